// Registers each facility's functions on the module object. Each facility lives in its
// own file and exposes one Init function.
#include <napi.h>

Napi::Object InitAead(Napi::Env env, Napi::Object exports);
Napi::Object InitTun(Napi::Env env, Napi::Object exports);
Napi::Object InitMemif(Napi::Env env, Napi::Object exports);
Napi::Object InitUdp(Napi::Env env, Napi::Object exports);

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitAead(env, exports);
  InitTun(env, exports);
  InitMemif(env, exports);
  InitUdp(env, exports);
  return exports;
}

NODE_API_MODULE(wireguard_ts_native, Init)
