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

namespace {

// The JS Error for a failed system call, with `errno` and `syscall` set like Node's own.
void ThrowErrno(Napi::Env env, const char* syscall, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
}

bool GetBytes(Napi::Env env, Napi::Value v, napi_typedarray_type type, const char* what,
              void** data, size_t* length) {
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

bool GetUint(Napi::Env env, Napi::Value v, const char* what, uint32_t max, uint32_t* out) {
  if (!v.IsNumber()) {
    Napi::TypeError::New(env, std::string(what) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > max || d != static_cast<double>(static_cast<uint32_t>(d))) {
    Napi::RangeError::New(env, std::string(what) + " is out of range").ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

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

class TunDevice;

// The fd and the uv_poll handle live apart from the JS-owned object: libuv finishes closing
// a handle later (in a callback), possibly after the object is gone. When a worker thread
// exits, an async cleanup hook closes them and makes Node wait for that callback before it
// unloads this addon (otherwise libuv would call into unmapped code).
struct PollState {
  uv_poll_t poll;
  int fd = -1;
  TunDevice* owner = nullptr;  // null once the JS object has been destroyed
  napi_async_cleanup_hook_handle hook = nullptr;
  bool polling = false;  // handle initialised and not yet fully closed
  bool closing = false;  // uv_close issued
};

void CloseFd(PollState* st) {
  if (st->fd >= 0) {
    close(st->fd);
    st->fd = -1;
  }
}

void OnPollClosed(uv_handle_t* h) {
  PollState* st = static_cast<PollState*>(h->data);
  // Unregisters the hook or, if it already ran, tells Node the cleanup is complete.
  if (st->hook != nullptr) napi_remove_async_cleanup_hook(st->hook);
  st->hook = nullptr;
  st->polling = false;
  st->closing = false;
  if (st->owner == nullptr) delete st;
}

// Stops and closes the poll handle (idempotent); the state is released in OnPollClosed.
void ClosePoll(PollState* st) {
  if (!st->polling || st->closing) return;
  uv_poll_stop(&st->poll);
  st->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&st->poll), OnPollClosed);
}

void AsyncCleanup(napi_async_cleanup_hook_handle, void* arg) {
  PollState* st = static_cast<PollState*>(arg);
  ClosePoll(st);
  CloseFd(st);
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
      : Napi::ObjectWrap<TunDevice>(info), env_(info.Env()), st_(new PollState) {
    st_->owner = this;
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
    st_->fd = fd;
    info.This().As<Napi::Object>().Set("name", Napi::String::New(env, actual));
    info.This().As<Napi::Object>().Set("fd", Napi::Number::New(env, fd));
  }

  // Only reachable once polling has stopped (polling holds a reference), or at teardown.
  ~TunDevice() override {
    Shutdown(false);
    st_->owner = nullptr;
    if (!st_->polling) delete st_;  // else OnPollClosed frees it
  }

 private:
  // start(slab, offsets, lengths, slotSize, headroom, maxLen, maxPackets, onRead): void
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (st_->fd < 0 || closed_) {
      Napi::Error::New(env, "TUN device is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (started_) {
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
    uint32_t slotSize, headroom, maxLen, maxPackets;
    if (!GetUint(env, info[3], "slotSize", UINT32_MAX, &slotSize)) return env.Undefined();
    if (!GetUint(env, info[4], "headroom", UINT32_MAX, &headroom)) return env.Undefined();
    if (!GetUint(env, info[5], "maxLen", UINT32_MAX, &maxLen)) return env.Undefined();
    if (!GetUint(env, info[6], "maxPackets", UINT32_MAX, &maxPackets)) return env.Undefined();
    if (!info[7].IsFunction()) {
      Napi::TypeError::New(env, "onRead must be a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (maxPackets == 0 || maxLen == 0 || static_cast<uint64_t>(headroom) + maxLen > slotSize ||
        static_cast<uint64_t>(slotSize) * maxPackets > slabLen || offsetsLen < maxPackets ||
        lengthsLen < maxPackets) {
      Napi::RangeError::New(env, "batch geometry does not fit the slab or arrays").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    slab_ = Napi::Persistent(info[0].As<Napi::Object>());
    offsets_ = Napi::Persistent(info[1].As<Napi::Object>());
    lengths_ = Napi::Persistent(info[2].As<Napi::Object>());
    onRead_ = Napi::Persistent(info[7].As<Napi::Function>());
    slotSize_ = slotSize;
    headroom_ = headroom;
    maxLen_ = maxLen;
    maxPackets_ = maxPackets;

    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int rc = uv_poll_init(loop, &st_->poll, st_->fd);
    if (rc != 0) {  // not initialised: nothing to close
      ThrowErrno(env, "uv_poll_init", -rc);
      return env.Undefined();
    }
    started_ = true;
    st_->poll.data = st_;
    st_->polling = true;
    napi_add_async_cleanup_hook(env, AsyncCleanup, st_, &st_->hook);
    rc = uv_poll_start(&st_->poll, UV_READABLE, OnPoll);
    if (rc != 0) {
      ClosePoll(st_);
      ThrowErrno(env, "uv_poll_start", -rc);
      return env.Undefined();
    }
    // While polling, the native side holds the JS object (and, through it, the slab).
    Ref();
    refHeld_ = true;
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
    for (uint32_t i = 0; i < count; i++) {
      if (static_cast<uint64_t>(offsets[i]) + lengths[i] > slabLen) {
        Napi::RangeError::New(env, "packet " + std::to_string(i) + " extends beyond the slab")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    double packets = 0, bytes = 0;
    if (st_->fd >= 0 && !closed_) {
      for (uint32_t i = 0; i < count; i++) {
        if (lengths[i] == 0) continue;
        ssize_t n;
        do {
          n = write(st_->fd, slab + offsets[i], lengths[i]);
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
    slab_.Reset();
    offsets_.Reset();
    lengths_.Reset();
    return info.Env().Undefined();
  }

  // Stops polling. `unref` releases the reference start() took (not from a destructor).
  void StopPoll(bool unref) {
    ClosePoll(st_);
    if (unref && refHeld_) {
      refHeld_ = false;
      Unref();
    }
  }

  // Stops polling and closes the fd; safe to call any number of times.
  void Shutdown(bool unref) {
    closed_ = true;
    StopPoll(unref);
    CloseFd(st_);
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    PollState* st = static_cast<PollState*>(handle->data);
    if (st->owner != nullptr && !st->closing) st->owner->OnReadable(status);
  }

  void OnReadable(int status) {
    Napi::HandleScope scope(env_);
    if (status < 0) {
      Gone(-status);
      return;
    }
    void* data;
    size_t len;
    napi_typedarray_type type;
    uint8_t* slab;
    uint32_t* offsets;
    uint32_t* lengths;
    // Re-read the pointers each time: they are checked against the geometry given to start().
    if (napi_get_typedarray_info(env_, slab_.Value(), &type, &len, &data, nullptr, nullptr) != napi_ok ||
        static_cast<uint64_t>(slotSize_) * maxPackets_ > len || data == nullptr) {
      Gone(EFAULT);
      return;
    }
    slab = static_cast<uint8_t*>(data);
    if (napi_get_typedarray_info(env_, offsets_.Value(), &type, &len, &data, nullptr, nullptr) != napi_ok ||
        len < maxPackets_) {
      Gone(EFAULT);
      return;
    }
    offsets = static_cast<uint32_t*>(data);
    if (napi_get_typedarray_info(env_, lengths_.Value(), &type, &len, &data, nullptr, nullptr) != napi_ok ||
        len < maxPackets_) {
      Gone(EFAULT);
      return;
    }
    lengths = static_cast<uint32_t*>(data);

    uint32_t count = 0;
    int fatal = 0;
    while (count < maxPackets_) {
      const uint32_t off = count * slotSize_ + headroom_;
      ssize_t n = read(st_->fd, slab + off, maxLen_);
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
    StopPoll(true);
    Deliver(-static_cast<double>(err));
  }

  // Calls onRead(value) as a proper callback from the event loop (runs microtasks after),
  // and turns an exception in it into an uncaught exception instead of losing it.
  void Deliver(double value) {
    if (onRead_.IsEmpty()) return;
    Napi::Env env(env_);
    napi_value global;
    napi_get_global(env_, &global);
    onRead_.MakeCallback(global, {Napi::Number::New(env, value)});
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env_, e.Value());
    }
  }

  napi_env env_;
  PollState* st_;
  bool closed_ = false;
  bool started_ = false;
  bool refHeld_ = false;
  Napi::FunctionReference onRead_;
  Napi::ObjectReference slab_;
  Napi::ObjectReference offsets_;
  Napi::ObjectReference lengths_;
  uint32_t slotSize_ = 0, headroom_ = 0, maxLen_ = 0, maxPackets_ = 0;
};

}  // namespace

Napi::Object InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("TunDevice", TunDevice::Define(env));
  return exports;
}
