// The JS boundary as the batch facilities (tun.cc, udp.cc, memif.cc) share it: checking what
// comes in, and the errors and callbacks that go out.
//
// Every pointer handed to a system call or a ring copy comes from a JS typed array, so each
// one is checked here for its type and its length before any memory is touched; a failed
// check leaves a JS exception pending and the caller returns at once.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

namespace addon {

// The JS Error for a failed system call, with `errno` and `syscall` set like Node's own.
inline void ThrowErrno(Napi::Env env, const char* syscall, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
}

// The data and element count of `v`, which must be a typed array of exactly `type`.
inline bool GetBytes(Napi::Env env, Napi::Value v, napi_typedarray_type type, const char* what, void** data,
                     size_t* length) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    Napi::TypeError::New(env, std::string(what) + " has the wrong type").ThrowAsJavaScriptException();
    return false;
  }
  napi_typedarray_type actual;
  if (napi_get_typedarray_info(env, v, &actual, length, data, nullptr, nullptr) != napi_ok) {
    Napi::TypeError::New(env, std::string(what) + " is not readable").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// `v` as an integer in [min, max]. NaN and fractions are refused rather than truncated: a
// size or count that is not exactly what JS meant is a bug on that side.
inline bool GetUint(Napi::Env env, Napi::Value v, const char* what, uint32_t min, uint32_t max, uint32_t* out) {
  if (!v.IsNumber()) {
    Napi::TypeError::New(env, std::string(what) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    Napi::RangeError::New(env, std::string(what) + " is out of range").ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

inline bool GetUint(Napi::Env env, Napi::Value v, const char* what, uint32_t max, uint32_t* out) {
  return GetUint(env, v, what, 0, max, out);
}

// Where received packets go: packet i in slab[i*slotSize + headroom], at most maxLen bytes
// each, at most maxPackets of them.
struct SlotGeometry {
  uint32_t slotSize = 0;
  uint32_t headroom = 0;
  uint32_t maxLen = 0;
  uint32_t maxPackets = 0;
};

// Reads slotSize, headroom, maxLen and maxPackets from info[first..first+3].
inline bool GetSlotGeometry(Napi::Env env, const Napi::CallbackInfo& info, size_t first, SlotGeometry* g) {
  return GetUint(env, info[first], "slotSize", UINT32_MAX, &g->slotSize) &&
         GetUint(env, info[first + 1], "headroom", UINT32_MAX, &g->headroom) &&
         GetUint(env, info[first + 2], "maxLen", UINT32_MAX, &g->maxLen) &&
         GetUint(env, info[first + 3], "maxPackets", UINT32_MAX, &g->maxPackets);
}

// True when every slot lies inside the slab and the offsets/lengths arrays have an entry
// for every slot. Computed in 64 bits: JS picks these numbers, and a wrapped product would
// let a read land outside the slab.
inline bool SlotsFit(const SlotGeometry& g, size_t slabLen, size_t offsetsLen, size_t lengthsLen) {
  return static_cast<uint64_t>(g.headroom) + g.maxLen <= g.slotSize &&
         static_cast<uint64_t>(g.slotSize) * g.maxPackets <= slabLen && g.maxPackets <= offsetsLen &&
         g.maxPackets <= lengthsLen;
}

// Checks that packets begin..end-1, as offsets[i]/lengths[i] describe them, lie inside a slab
// of slabLen bytes; throws a RangeError naming the first that does not ("<noun> i ...").
inline bool PacketsInSlab(Napi::Env env, const uint32_t* offsets, const uint32_t* lengths, uint32_t begin,
                          uint32_t end, size_t slabLen, const char* noun) {
  for (uint32_t i = begin; i < end; i++) {
    if (static_cast<uint64_t>(offsets[i]) + lengths[i] > slabLen) {
      Napi::RangeError::New(env, std::string(noun) + " " + std::to_string(i) + " extends beyond the slab")
          .ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

// The data of a typed array kept across calls (start() checked it once), or nullptr when it
// no longer has minLength elements: JS may have transferred or detached its buffer since, so
// the pointer is fetched again before each use instead of being cached.
template <typename T>
T* HeldArrayData(napi_env env, const Napi::ObjectReference& ref, uint64_t minLength) {
  void* data = nullptr;
  size_t len = 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, ref.Value(), &type, &len, &data, nullptr, nullptr) != napi_ok ||
      data == nullptr || len < minLength) {
    return nullptr;
  }
  return static_cast<T*>(data);
}

// The slab and per-packet arrays a poll-driven reader fills, held from start() until close()
// together with the geometry start() checked them against.
struct HeldSlots {
  Napi::ObjectReference slab;
  Napi::ObjectReference offsets;
  Napi::ObjectReference lengths;
  SlotGeometry geo;

  // info[0], info[1] and info[2] are the slab, offsets and lengths start() has checked.
  void Hold(const Napi::CallbackInfo& info, const SlotGeometry& g) {
    slab = Napi::Persistent(info[0].As<Napi::Object>());
    offsets = Napi::Persistent(info[1].As<Napi::Object>());
    lengths = Napi::Persistent(info[2].As<Napi::Object>());
    geo = g;
  }

  void Release() {
    slab.Reset();
    offsets.Reset();
    lengths.Reset();
  }

  // Pointers into the held arrays for one batch, or false when they no longer fit the
  // geometry (see HeldArrayData). Needs an open HandleScope.
  bool Fetch(napi_env env, uint8_t** slabData, uint32_t** offsetsData, uint32_t** lengthsData) const {
    *slabData = HeldArrayData<uint8_t>(env, slab, static_cast<uint64_t>(geo.slotSize) * geo.maxPackets);
    *offsetsData = HeldArrayData<uint32_t>(env, offsets, geo.maxPackets);
    *lengthsData = HeldArrayData<uint32_t>(env, lengths, geo.maxPackets);
    return *slabData != nullptr && *offsetsData != nullptr && *lengthsData != nullptr;
  }
};

// Calls fn(args) with `recv` as `this`, as a proper callback from the event loop (microtasks
// run after it). An exception it throws becomes an uncaught exception: there is no JS caller
// to hand it to, and dropping it would hide the bug.
inline void CallFromLoop(napi_env env, const Napi::FunctionReference& fn, napi_value recv,
                         const std::initializer_list<napi_value>& args) {
  fn.MakeCallback(recv, args);
  Napi::Env e(env);
  if (e.IsExceptionPending()) {
    Napi::Error err = e.GetAndClearPendingException();
    napi_fatal_exception(env, err.Value());
  }
}

}  // namespace addon
