// Kernel TUN device: /dev/net/tun in IFF_TUN|IFF_NO_PI mode (bare IP packets, no header).
//
// Reads are driven by a uv_poll_t on Node's own event loop: when the fd is readable, up to
// `maxPackets` packets are read straight into the slots of a JS-owned slab and one JS
// callback gets the count. Writes take a whole batch in one call. Nothing here spins or
// allocates per packet.
//
// JS API (class TunDevice):
//   new TunDevice(name, mtu)          opens and configures; `name` and `fd` properties
//   start(slab, offsets, lengths, slotSize, headroom, maxLen, maxPackets, onRead)
//       onRead(count): count >= 0 packets are in slots 0..count-1 (offsets/lengths set);
//       count < 0 is -errno: the interface is gone and reading has stopped.
//   writeBatch(slab, count, offsets, lengths, result)   result[0] = packets written,
//       result[1] = bytes written; failed writes are drops, never exceptions.
//   close()                           idempotent
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "fd_poll.h"
#include "napi_util.h"

namespace {

using namespace addon;  // the shared JS-boundary and fd-poll helpers

// Sets the interface MTU; returns 0 or an errno.
int SetMtu(const char* name, int mtu) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));  // ifr is zeroed: stays terminated
  ifr.ifr_mtu = mtu;
  int rc = ioctl(s, SIOCSIFMTU, &ifr) < 0 ? errno : 0;
  close(s);
  return rc;
}

class TunDevice : public Napi::ObjectWrap<TunDevice> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TunDevice",
                       {InstanceMethod<&TunDevice::Start>("start"),
                        InstanceMethod<&TunDevice::WriteBatch>("writeBatch"),
                        InstanceMethod<&TunDevice::Close>("close")});
  }

  explicit TunDevice(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<TunDevice>(info), env_(info.Env()), poll_(this) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString()) {
      Napi::TypeError::New(env, "TunDevice(name: string, mtu: number)").ThrowAsJavaScriptException();
      return;
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    if (name.size() >= IFNAMSIZ || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      Napi::RangeError::New(env, "interface name must be shorter than 16 bytes and contain no '/'")
          .ThrowAsJavaScriptException();
      return;
    }
    uint32_t mtu = 0;
    if (!GetUint(env, info[1], "mtu", 65535, &mtu)) return;
    if (mtu < 68) {
      Napi::RangeError::New(env, "mtu must be at least 68").ThrowAsJavaScriptException();
      return;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      ThrowErrno(env, "open /dev/net/tun", errno);
      return;
    }
    struct ifreq ifr;
    std::memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::memcpy(ifr.ifr_name, name.data(), name.size());  // checked < IFNAMSIZ above
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int err = errno;
      close(fd);
      ThrowErrno(env, "ioctl TUNSETIFF", err);
      return;
    }
    // The kernel fills in the actual name (e.g. for a pattern like "tun%d").
    char actual[IFNAMSIZ + 1];
    std::memcpy(actual, ifr.ifr_name, IFNAMSIZ);
    actual[IFNAMSIZ] = '\0';
    int err = SetMtu(actual, static_cast<int>(mtu));
    if (err != 0) {
      close(fd);
      ThrowErrno(env, "ioctl SIOCSIFMTU", err);
      return;
    }
    poll_.SetFd(fd);
    info.This().As<Napi::Object>().Set("name", Napi::String::New(env, actual));
    info.This().As<Napi::Object>().Set("fd", Napi::Number::New(env, fd));
  }

  // Only reachable once polling has stopped (polling holds a reference), or at teardown.
  ~TunDevice() override { Shutdown(false); }

 private:
  // start(slab, offsets, lengths, slotSize, headroom, maxLen, maxPackets, onRead): void
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (poll_.fd() < 0 || closed_) {
      Napi::Error::New(env, "TUN device is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (poll_.started()) {
      Napi::Error::New(env, "TUN device already started").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 8) {
      Napi::TypeError::New(env, "start needs 8 arguments").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    void* data;
    size_t slabLen, offsetsLen, lengthsLen;
    if (!GetBytes(env, info[0], napi_uint8_array, "slab", &data, &slabLen)) return env.Undefined();
    if (!GetBytes(env, info[1], napi_uint32_array, "offsets", &data, &offsetsLen)) return env.Undefined();
    if (!GetBytes(env, info[2], napi_uint32_array, "lengths", &data, &lengthsLen)) return env.Undefined();
    SlotGeometry geo;
    if (!GetSlotGeometry(env, info, 3, &geo)) return env.Undefined();
    if (!info[7].IsFunction()) {
      Napi::TypeError::New(env, "onRead must be a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (geo.maxPackets == 0 || geo.maxLen == 0 || !SlotsFit(geo, slabLen, offsetsLen, lengthsLen)) {
      Napi::RangeError::New(env, "batch geometry does not fit the slab or arrays").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    slots_.Hold(info, geo);
    onRead_ = Napi::Persistent(info[7].As<Napi::Function>());
    // While polling, the native side holds the JS object (and, through it, the slab).
    poll_.Start(env, OnPoll);
    return env.Undefined();
  }

  // writeBatch(slab, count, offsets, lengths, result: Float64Array): void
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5) {
      Napi::TypeError::New(env, "writeBatch needs 5 arguments").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    void* slabData;
    void* offData;
    void* lenData;
    void* resData;
    size_t slabLen, offLen, lenLen, resLen;
    uint32_t count;
    if (!GetBytes(env, info[0], napi_uint8_array, "slab", &slabData, &slabLen)) return env.Undefined();
    if (!GetUint(env, info[1], "count", UINT32_MAX, &count)) return env.Undefined();
    if (!GetBytes(env, info[2], napi_uint32_array, "offsets", &offData, &offLen)) return env.Undefined();
    if (!GetBytes(env, info[3], napi_uint32_array, "lengths", &lenData, &lenLen)) return env.Undefined();
    if (!GetBytes(env, info[4], napi_float64_array, "result", &resData, &resLen)) return env.Undefined();
    if (offLen < count || lenLen < count || resLen < 2) {
      Napi::RangeError::New(env, "count exceeds the per-packet arrays, or result is too short")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint8_t* slab = static_cast<const uint8_t*>(slabData);
    const uint32_t* offsets = static_cast<const uint32_t*>(offData);
    const uint32_t* lengths = static_cast<const uint32_t*>(lenData);
    double* result = static_cast<double*>(resData);
    if (!PacketsInSlab(env, offsets, lengths, 0, count, slabLen, "packet")) return env.Undefined();
    double packets = 0, bytes = 0;
    if (poll_.fd() >= 0 && !closed_) {
      for (uint32_t i = 0; i < count; i++) {
        if (lengths[i] == 0) continue;
        ssize_t n;
        do {
          n = write(poll_.fd(), slab + offsets[i], lengths[i]);
        } while (n < 0 && errno == EINTR);
        // EAGAIN (queue full), EIO (link down), EINVAL (not an IP packet) and the like are
        // drops: the caller counts count - result[0].
        if (n > 0) {
          packets += 1;
          bytes += static_cast<double>(n);
        }
      }
    }
    result[0] = packets;
    result[1] = bytes;
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(true);
    // Drop the references that kept JS objects alive while reading.
    onRead_.Reset();
    slots_.Release();
    return info.Env().Undefined();
  }

  // Stops polling and closes the fd; safe to call any number of times. `unref` releases
  // the reference start() took (not from a destructor).
  void Shutdown(bool unref) {
    closed_ = true;
    poll_.Shutdown(unref);
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    TunDevice* self = FdPoll<TunDevice>::OwnerOf(handle);
    if (self != nullptr) self->OnReadable(status);
  }

  void OnReadable(int status) {
    Napi::HandleScope scope(env_);
    if (status < 0) {
      Gone(-status);
      return;
    }
    // Re-read the pointers each time: they are checked against the geometry given to start().
    uint8_t* slab;
    uint32_t* offsets;
    uint32_t* lengths;
    if (!slots_.Fetch(env_, &slab, &offsets, &lengths)) {
      Gone(EFAULT);
      return;
    }

    uint32_t count = 0;
    int fatal = 0;
    const SlotGeometry& geo = slots_.geo;
    while (count < geo.maxPackets) {
      const uint32_t off = count * geo.slotSize + geo.headroom;
      ssize_t n = read(poll_.fd(), slab + off, geo.maxLen);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) fatal = errno;
        break;
      }
      if (n == 0) continue;  // nothing useful; keep reading until EAGAIN
      offsets[count] = off;
      lengths[count] = static_cast<uint32_t>(n);
      count++;
    }
    if (count > 0) Deliver(static_cast<double>(count));
    // EBADFD (detached by `ip link del`), EIO, ENODEV...: the interface is gone. Any other
    // error would make the level-triggered poll spin, so it ends reading as well.
    if (fatal != 0 && !closed_) Gone(fatal);
  }

  void Gone(int err) {
    poll_.Stop(true);
    Deliver(-static_cast<double>(err));
  }

  // onRead(value), called from the event loop with `this` as the global object.
  void Deliver(double value) {
    if (onRead_.IsEmpty()) return;
    Napi::Env env(env_);
    CallFromLoop(env_, onRead_, env.Global(), {Napi::Number::New(env, value)});
  }

  napi_env env_;
  FdPoll<TunDevice> poll_;
  bool closed_ = false;
  Napi::FunctionReference onRead_;
  HeldSlots slots_;
};

}  // namespace

Napi::Object InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("TunDevice", TunDevice::Define(env));
  return exports;
}
