// Batch ChaCha20-Poly1305 (RFC 8439) for the WireGuard transport: one N-API call seals or
// opens a whole batch of packets in place inside one slab.
//
// The cipher is OpenSSL's, reached through the symbols the node binary exports (Node links
// OpenSSL statically); nothing else is linked. WireGuard's transport nonce is 32 zero bits
// followed by the 64-bit little-endian counter, and the AAD is empty.
//
// Every argument is validated for every packet before any byte of the slab is touched, so a
// bad offset or length throws a JS error instead of writing outside the buffers.
#include <napi.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>

namespace {

constexpr size_t kKeySize = 32;
constexpr size_t kTagSize = 16;
constexpr size_t kNonceSize = 12;
// EVP takes int lengths; no WireGuard packet comes anywhere near this.
constexpr uint64_t kMaxPacket = 1u << 30;

// One cipher context per thread (each worker thread runs its own JS), created on first
// use and freed when that thread's environment goes away.
thread_local EVP_CIPHER_CTX* tlsCtx = nullptr;

void FreeCtx(void*) {
  if (tlsCtx != nullptr) {
    EVP_CIPHER_CTX_free(tlsCtx);
    tlsCtx = nullptr;
  }
}

EVP_CIPHER_CTX* GetCtx(Napi::Env env) {
  if (tlsCtx != nullptr) return tlsCtx;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return nullptr;
  // Bind the cipher once; per packet only key, nonce and direction change.
  if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr, 1) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  tlsCtx = ctx;
  napi_add_env_cleanup_hook(env, FreeCtx, nullptr);
  return ctx;
}

// A typed array argument seen as raw memory plus its element count.
template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};

template <typename T>
bool GetTypedArray(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type,
                   const char* what, View<T>* out) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsTypedArray()) {
    Napi::TypeError::New(env, std::string(what) + " must be a typed array").ThrowAsJavaScriptException();
    return false;
  }
  Napi::TypedArray ta = info[index].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != type) {
    Napi::TypeError::New(env, std::string(what) + " has the wrong typed array type").ThrowAsJavaScriptException();
    return false;
  }
  napi_typedarray_type actual;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, ta, &actual, &length, &data, nullptr, nullptr) != napi_ok) {
    Napi::TypeError::New(env, std::string(what) + " is not readable").ThrowAsJavaScriptException();
    return false;
  }
  out->data = static_cast<T*>(data);
  out->length = length;
  return true;
}

// The arguments shared by sealBatch and openBatch, checked and unpacked.
struct BatchArgs {
  View<uint8_t> slab;
  uint32_t count = 0;
  View<uint32_t> offsets;
  View<uint32_t> lengths;
  View<uint8_t> keys;
  View<uint16_t> keyIndex;
  View<uint64_t> counters;
  View<uint8_t> ok;  // openBatch only
};

bool ParseArgs(const Napi::CallbackInfo& info, bool wantOk, BatchArgs* a) {
  Napi::Env env = info.Env();
  if (!GetTypedArray(info, 0, napi_uint8_array, "slab", &a->slab)) return false;
  if (info.Length() < 2 || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "count must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double count = info[1].As<Napi::Number>().DoubleValue();
  if (!(count >= 0) || count > UINT32_MAX || count != static_cast<double>(static_cast<uint32_t>(count))) {
    Napi::RangeError::New(env, "count must be a non-negative integer").ThrowAsJavaScriptException();
    return false;
  }
  a->count = static_cast<uint32_t>(count);
  if (!GetTypedArray(info, 2, napi_uint32_array, "offsets", &a->offsets)) return false;
  if (!GetTypedArray(info, 3, napi_uint32_array, "lengths", &a->lengths)) return false;
  if (!GetTypedArray(info, 4, napi_uint8_array, "keys", &a->keys)) return false;
  if (!GetTypedArray(info, 5, napi_uint16_array, "keyIndex", &a->keyIndex)) return false;
  if (!GetTypedArray(info, 6, napi_biguint64_array, "counters", &a->counters)) return false;
  if (wantOk && !GetTypedArray(info, 7, napi_uint8_array, "ok", &a->ok)) return false;
  const size_t n = a->count;
  if (a->offsets.length < n || a->lengths.length < n || a->keyIndex.length < n ||
      a->counters.length < n || (wantOk && a->ok.length < n)) {
    Napi::RangeError::New(env, "count exceeds the length of a per-packet array").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// Checks that packet i (plus `extra` bytes behind it) and its key lie inside their buffers.
bool CheckPacket(Napi::Env env, const BatchArgs& a, size_t i, uint64_t extra) {
  const uint64_t len = a.lengths.data[i];
  if (len > kMaxPacket) {
    Napi::RangeError::New(env, "packet " + std::to_string(i) + " is too long").ThrowAsJavaScriptException();
    return false;
  }
  const uint64_t end = static_cast<uint64_t>(a.offsets.data[i]) + len + extra;
  if (end > a.slab.length) {
    Napi::RangeError::New(env, "packet " + std::to_string(i) + " extends beyond the slab").ThrowAsJavaScriptException();
    return false;
  }
  const uint64_t keyEnd = (static_cast<uint64_t>(a.keyIndex.data[i]) + 1) * kKeySize;
  if (keyEnd > a.keys.length) {
    Napi::RangeError::New(env, "keyIndex of packet " + std::to_string(i) + " is beyond keys").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

void MakeNonce(uint64_t counter, uint8_t nonce[kNonceSize]) {
  std::memset(nonce, 0, 4);
  for (int b = 0; b < 8; b++) nonce[4 + b] = static_cast<uint8_t>(counter >> (8 * b));
}

// The tag moves through OSSL_PARAMs directly: EVP_CIPHER_CTX_ctrl would translate to the
// same call with extra lookups, and per-packet overhead is what dominates small packets.
bool GetTag(EVP_CIPHER_CTX* ctx, uint8_t* tag) {
  OSSL_PARAM params[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kTagSize),
                          OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(ctx, params) == 1 ||
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag) == 1;
}

bool SetTag(EVP_CIPHER_CTX* ctx, uint8_t* tag) {
  OSSL_PARAM params[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kTagSize),
                          OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_set_params(ctx, params) == 1 ||
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag) == 1;
}

// Seals one packet in place and appends the tag; false only if OpenSSL itself fails.
// `key` may be null to keep the key of the previous packet (saves a key setup).
bool SealOne(EVP_CIPHER_CTX* ctx, const uint8_t* key, uint64_t counter, uint8_t* p, int len) {
  uint8_t nonce[kNonceSize];
  MakeNonce(counter, nonce);
  int outl = 0;
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, key, nonce, 1) != 1) return false;
  if (len > 0 && EVP_CipherUpdate(ctx, p, &outl, p, len) != 1) return false;
  int finl = 0;
  if (EVP_CipherFinal_ex(ctx, p + outl, &finl) != 1) return false;
  return GetTag(ctx, p + len);
}

// Opens one packet (ciphertext followed by tag) in place; true only if the tag verified.
// `key` may be null as for SealOne.
bool OpenOne(EVP_CIPHER_CTX* ctx, const uint8_t* key, uint64_t counter, uint8_t* p, int len) {
  const int textLen = len - static_cast<int>(kTagSize);
  uint8_t nonce[kNonceSize];
  MakeNonce(counter, nonce);
  // The tag is copied out before the in-place decryption could overwrite it.
  uint8_t tag[kTagSize];
  std::memcpy(tag, p + textLen, kTagSize);
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, key, nonce, 0) != 1) return false;
  if (!SetTag(ctx, tag)) return false;
  int outl = 0;
  if (textLen > 0 && EVP_CipherUpdate(ctx, p, &outl, p, textLen) != 1) return false;
  int finl = 0;
  return EVP_CipherFinal_ex(ctx, p + outl, &finl) == 1;
}

// sealBatch(slab, count, offsets, lengths, keys, keyIndex, counters): void
Napi::Value SealBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchArgs a;
  if (!ParseArgs(info, false, &a)) return env.Undefined();
  for (size_t i = 0; i < a.count; i++) {
    if (!CheckPacket(env, a, i, kTagSize)) return env.Undefined();
  }
  EVP_CIPHER_CTX* ctx = GetCtx(env);
  if (ctx == nullptr) {
    Napi::Error::New(env, "OpenSSL ChaCha20-Poly1305 is unavailable").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Consecutive packets of one peer share a key: only a change of key needs a key setup.
  // (The context may hold a key from an earlier call, so the first packet always sets one.)
  int lastKey = -1;
  for (size_t i = 0; i < a.count; i++) {
    const int k = a.keyIndex.data[i];
    const uint8_t* key = k == lastKey ? nullptr : a.keys.data + static_cast<size_t>(k) * kKeySize;
    lastKey = k;
    uint8_t* p = a.slab.data + a.offsets.data[i];
    if (!SealOne(ctx, key, a.counters.data[i], p, static_cast<int>(a.lengths.data[i]))) {
      Napi::Error::New(env, "OpenSSL ChaCha20-Poly1305 seal failed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return env.Undefined();
}

// openBatch(slab, count, offsets, lengths, keys, keyIndex, counters, ok): void
Napi::Value OpenBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchArgs a;
  if (!ParseArgs(info, true, &a)) return env.Undefined();
  for (size_t i = 0; i < a.count; i++) {
    if (!CheckPacket(env, a, i, 0)) return env.Undefined();
  }
  EVP_CIPHER_CTX* ctx = GetCtx(env);
  if (ctx == nullptr) {
    Napi::Error::New(env, "OpenSSL ChaCha20-Poly1305 is unavailable").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool anyFailed = false;
  int lastKey = -1;  // as in SealBatch
  for (size_t i = 0; i < a.count; i++) {
    const int len = static_cast<int>(a.lengths.data[i]);
    if (len < static_cast<int>(kTagSize)) {
      a.ok.data[i] = 0;
      continue;
    }
    const int k = a.keyIndex.data[i];
    const uint8_t* key = k == lastKey ? nullptr : a.keys.data + static_cast<size_t>(k) * kKeySize;
    uint8_t* p = a.slab.data + a.offsets.data[i];
    const bool ok = OpenOne(ctx, key, a.counters.data[i], p, len);
    // After an OpenSSL failure the context's key state is not to be trusted: set it again.
    lastKey = ok ? k : -1;
    a.ok.data[i] = ok ? 1 : 0;
    anyFailed = anyFailed || !ok;
  }
  // A rejected tag may leave entries on OpenSSL's per-thread error queue, which node:crypto
  // shares; leave it clean so a later, unrelated call does not report our failure.
  if (anyFailed) ERR_clear_error();
  return env.Undefined();
}

}  // namespace

Napi::Object InitAead(Napi::Env env, Napi::Object exports) {
  exports.Set("sealBatch", Napi::Function::New(env, SealBatch, "sealBatch"));
  exports.Set("openBatch", Napi::Function::New(env, OpenBatch, "openBatch"));
  return exports;
}
