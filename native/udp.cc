// Batched UDP sockets: recvmmsg straight into the slots of a JS-owned slab, sendmmsg of a
// whole batch from that slab. One socket object serves one family (IPv4, or IPv6 with
// IPV6_V6ONLY so the two can share a port the way wireguard-go binds them).
//
// Addresses cross the boundary as 24-byte records in a Uint8Array, never as strings:
//   byte 0      family: 4 or 6 (0 = unknown, for received addresses only)
//   byte 1      0
//   bytes 2-3   port, network byte order
//   bytes 4-19  address: IPv4 in bytes 4-7 (the rest zero), IPv6 in all 16
//   bytes 20-23 IPv6 scope id (interface index of a link-local address), host byte order
// An IPv4-mapped IPv6 source (::ffff:a.b.c.d) is reported as family 4.
//
// Reads are driven by a uv_poll_t on Node's event loop, as in tun.cc: when the socket is
// readable, up to `maxPackets` datagrams are received with one recvmmsg into slot i at
// slab[i*slotSize + headroom], offsets/lengths/addrs are filled for the kept ones and one
// JS callback gets the count. A datagram longer than `maxLen` is dropped (MSG_TRUNC) and
// counted, never delivered truncated.
//
// JS API (class UdpSocket):
//   new UdpSocket(family: 4 | 6)       socket(2), non-blocking, close-on-exec
//   bind(port): number                 binds the wildcard address; returns the port bound
//   setBufferSizes(bytes): number[]    [rcvbuf, sndbuf] as the kernel reports them after
//                                      trying SO_{RCV,SND}BUFFORCE, then SO_{RCV,SND}BUF
//   setMark(mark): number              SO_MARK; 0 or the errno (EPERM without CAP_NET_ADMIN)
//   getMark(): number                  SO_MARK as the kernel has it (tests, diagnostics)
//   start(slab, offsets, lengths, addrs, slotSize, headroom, maxLen, maxPackets, onRead)
//       onRead(count, oversize): datagrams 0..count-1 are in the batch; `oversize` were
//       dropped for being longer than maxLen. count < 0 is -errno: reading has stopped.
//   sendBatch(slab, count, offsets, lengths, dests, result)
//       sends datagram i to the 24-byte record dests[i*24..] when that record's family is
//       this socket's; others are skipped. result[0] = datagrams sent, result[1] = bytes
//       sent, result[2] = datagrams of this family (sent or failed). Network failures are
//       drops, never exceptions.
//   close()                            idempotent
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "fd_poll.h"
#include "napi_util.h"

namespace {

using namespace addon;  // the shared JS-boundary and fd-poll helpers

constexpr uint32_t kAddrRecord = 24;
// Datagrams per recvmmsg/sendmmsg call; larger batches are split into several calls.
constexpr uint32_t kChunk = 128;
// Full batches received per readable event before yielding to the event loop.
constexpr int kRoundsPerWake = 8;
// How long one sendBatch waits, at most, for room in a full send buffer before dropping.
constexpr int kSendWaitMs = 2;
// Poll errors in a row without a datagram received before reading is given up.
constexpr int kMaxErrorsInRow = 64;

// Writes a received address as a 24-byte record.
void EncodeAddress(const sockaddr_storage& ss, uint8_t* rec) {
  std::memset(rec, 0, kAddrRecord);
  if (ss.ss_family == AF_INET) {
    const sockaddr_in* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    rec[0] = 4;
    std::memcpy(rec + 2, &sin->sin_port, 2);
    std::memcpy(rec + 4, &sin->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    const sockaddr_in6* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    std::memcpy(rec + 2, &sin6->sin6_port, 2);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      rec[0] = 4;
      std::memcpy(rec + 4, sin6->sin6_addr.s6_addr + 12, 4);
    } else {
      rec[0] = 6;
      std::memcpy(rec + 4, &sin6->sin6_addr, 16);
      std::memcpy(rec + 20, &sin6->sin6_scope_id, 4);
    }
  }
}

// Builds the sockaddr for a destination record on a socket of `family`; returns its length.
socklen_t DecodeAddress(const uint8_t* rec, int family, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  if (family == 4) {
    sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_port, rec + 2, 2);
    std::memcpy(&sin->sin_addr, rec + 4, 4);
    return sizeof *sin;
  }
  sockaddr_in6* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
  sin6->sin6_family = AF_INET6;
  std::memcpy(&sin6->sin6_port, rec + 2, 2);
  std::memcpy(&sin6->sin6_addr, rec + 4, 16);
  std::memcpy(&sin6->sin6_scope_id, rec + 20, 4);
  return sizeof *sin6;
}

// Sets an int socket option, trying the privileged variant first (it ignores the
// net.core.*mem_max caps), and returns what the kernel reports afterwards.
int SetBuffer(int fd, int forceOpt, int opt, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, forceOpt, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);  // capped; failure leaves the default
  }
  int actual = 0;
  socklen_t len = sizeof actual;
  if (getsockopt(fd, SOL_SOCKET, opt, &actual, &len) != 0) return 0;
  return actual;
}

class UdpSocket : public Napi::ObjectWrap<UdpSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UdpSocket",
                       {InstanceMethod<&UdpSocket::Bind>("bind"),
                        InstanceMethod<&UdpSocket::SetBufferSizes>("setBufferSizes"),
                        InstanceMethod<&UdpSocket::SetMark>("setMark"),
                        InstanceMethod<&UdpSocket::GetMark>("getMark"),
                        InstanceMethod<&UdpSocket::Start>("start"),
                        InstanceMethod<&UdpSocket::SendBatch>("sendBatch"),
                        InstanceMethod<&UdpSocket::Close>("close")});
  }

  explicit UdpSocket(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<UdpSocket>(info), env_(info.Env()), poll_(this) {
    Napi::Env env = info.Env();
    uint32_t family = 0;
    if (info.Length() < 1 || !GetUint(env, info[0], "family", 6, &family)) {
      if (!env.IsExceptionPending()) Napi::TypeError::New(env, "UdpSocket(family: 4 | 6)").ThrowAsJavaScriptException();
      return;
    }
    if (family != 4 && family != 6) {
      Napi::RangeError::New(env, "family must be 4 or 6").ThrowAsJavaScriptException();
      return;
    }
    int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) {
      ThrowErrno(env, "socket", errno);
      return;
    }
    if (family == 6) {
      int one = 1;
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
        int err = errno;
        close(fd);
        ThrowErrno(env, "setsockopt IPV6_V6ONLY", err);
        return;
      }
    }
    family_ = static_cast<int>(family);
    poll_.SetFd(fd);
  }

  // Only reachable once polling has stopped (polling holds a reference), or at teardown.
  ~UdpSocket() override { Shutdown(false); }

 private:
  bool CheckOpen(Napi::Env env) {
    if (poll_.fd() < 0 || closed_) {
      ThrowErrno(env, "UDP socket is closed", EBADF);
      return false;
    }
    return true;
  }

  // bind(port): number
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t port;
    if (!CheckOpen(env) || info.Length() < 1 || !GetUint(env, info[0], "port", 65535, &port)) {
      if (!env.IsExceptionPending()) Napi::TypeError::New(env, "bind(port)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    sockaddr_storage ss;
    std::memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family_ == 4) {
      sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(static_cast<uint16_t>(port));
      sin->sin_addr.s_addr = htonl(INADDR_ANY);
      len = sizeof *sin;
    } else {
      sockaddr_in6* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(static_cast<uint16_t>(port));
      sin6->sin6_addr = in6addr_any;
      len = sizeof *sin6;
    }
    if (bind(poll_.fd(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      ThrowErrno(env, "bind", errno);
      return env.Undefined();
    }
    len = sizeof ss;
    if (getsockname(poll_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      ThrowErrno(env, "getsockname", errno);
      return env.Undefined();
    }
    uint16_t bound = family_ == 4 ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                  : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port;
    return Napi::Number::New(env, ntohs(bound));
  }

  // setBufferSizes(bytes): [rcvbuf, sndbuf]
  Napi::Value SetBufferSizes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t bytes;
    if (!CheckOpen(env) || info.Length() < 1 || !GetUint(env, info[0], "bytes", INT32_MAX, &bytes)) {
      if (!env.IsExceptionPending()) Napi::TypeError::New(env, "setBufferSizes(bytes)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::Number::New(env, SetBuffer(poll_.fd(), SO_RCVBUFFORCE, SO_RCVBUF, static_cast<int>(bytes))));
    out.Set(1u, Napi::Number::New(env, SetBuffer(poll_.fd(), SO_SNDBUFFORCE, SO_SNDBUF, static_cast<int>(bytes))));
    return out;
  }

  // setMark(mark): 0 or errno
  Napi::Value SetMark(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t mark;
    if (!CheckOpen(env) || info.Length() < 1 || !GetUint(env, info[0], "mark", UINT32_MAX, &mark)) {
      if (!env.IsExceptionPending()) Napi::TypeError::New(env, "setMark(mark)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int rc = setsockopt(poll_.fd(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0 ? 0 : errno;
    return Napi::Number::New(env, rc);
  }

  Napi::Value GetMark(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    uint32_t mark = 0;
    socklen_t len = sizeof mark;
    if (getsockopt(poll_.fd(), SOL_SOCKET, SO_MARK, &mark, &len) != 0) {
      ThrowErrno(env, "getsockopt SO_MARK", errno);
      return env.Undefined();
    }
    return Napi::Number::New(env, mark);
  }

  // start(slab, offsets, lengths, addrs, slotSize, headroom, maxLen, maxPackets, onRead)
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (poll_.started()) {
      Napi::Error::New(env, "UDP socket already started").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 9) {
      Napi::TypeError::New(env, "start needs 9 arguments").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    void* data;
    size_t slabLen, offsetsLen, lengthsLen, addrsLen;
    if (!GetBytes(env, info[0], napi_uint8_array, "slab", &data, &slabLen)) return env.Undefined();
    if (!GetBytes(env, info[1], napi_uint32_array, "offsets", &data, &offsetsLen)) return env.Undefined();
    if (!GetBytes(env, info[2], napi_uint32_array, "lengths", &data, &lengthsLen)) return env.Undefined();
    if (!GetBytes(env, info[3], napi_uint8_array, "addrs", &data, &addrsLen)) return env.Undefined();
    SlotGeometry geo;
    if (!GetSlotGeometry(env, info, 4, &geo)) return env.Undefined();
    if (!info[8].IsFunction()) {
      Napi::TypeError::New(env, "onRead must be a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (geo.maxPackets == 0 || geo.maxLen == 0 || !SlotsFit(geo, slabLen, offsetsLen, lengthsLen) ||
        static_cast<uint64_t>(addrsLen) < static_cast<uint64_t>(geo.maxPackets) * kAddrRecord) {
      Napi::RangeError::New(env, "batch geometry does not fit the slab or arrays").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    slots_.Hold(info, geo);
    addrs_ = Napi::Persistent(info[3].As<Napi::Object>());
    onRead_ = Napi::Persistent(info[8].As<Napi::Function>());
    poll_.Start(env, OnPoll);
    return env.Undefined();
  }

  // sendBatch(slab, count, offsets, lengths, dests, result: Float64Array): void
  Napi::Value SendBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 6) {
      Napi::TypeError::New(env, "sendBatch needs 6 arguments").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    void *slabData, *offData, *lenData, *destData, *resData;
    size_t slabLen, offLen, lenLen, destLen, resLen;
    uint32_t count;
    if (!GetBytes(env, info[0], napi_uint8_array, "slab", &slabData, &slabLen)) return env.Undefined();
    if (!GetUint(env, info[1], "count", UINT32_MAX, &count)) return env.Undefined();
    if (!GetBytes(env, info[2], napi_uint32_array, "offsets", &offData, &offLen)) return env.Undefined();
    if (!GetBytes(env, info[3], napi_uint32_array, "lengths", &lenData, &lenLen)) return env.Undefined();
    if (!GetBytes(env, info[4], napi_uint8_array, "dests", &destData, &destLen)) return env.Undefined();
    if (!GetBytes(env, info[5], napi_float64_array, "result", &resData, &resLen)) return env.Undefined();
    if (offLen < count || lenLen < count || resLen < 3 ||
        static_cast<uint64_t>(destLen) < static_cast<uint64_t>(count) * kAddrRecord) {
      Napi::RangeError::New(env, "count exceeds the per-datagram arrays, or result is too short")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint8_t* slab = static_cast<uint8_t*>(slabData);
    const uint32_t* offsets = static_cast<const uint32_t*>(offData);
    const uint32_t* lengths = static_cast<const uint32_t*>(lenData);
    const uint8_t* dests = static_cast<const uint8_t*>(destData);
    double* result = static_cast<double*>(resData);
    if (!PacketsInSlab(env, offsets, lengths, 0, count, slabLen, "datagram")) return env.Undefined();
    double sent = 0, bytes = 0, mine = 0;
    mmsghdr msgs[kChunk];
    iovec iov[kChunk];
    sockaddr_storage addrs[kChunk];
    uint32_t i = 0;
    bool waited = false;
    while (i < count) {
      // Gather the next run of this family's datagrams into one sendmmsg.
      uint32_t n = 0;
      for (; i < count && n < kChunk; i++) {
        const uint8_t* rec = dests + static_cast<size_t>(i) * kAddrRecord;
        if (rec[0] != family_) continue;
        mine += 1;
        std::memset(&msgs[n], 0, sizeof msgs[n]);
        iov[n].iov_base = slab + offsets[i];
        iov[n].iov_len = lengths[i];
        msgs[n].msg_hdr.msg_name = &addrs[n];
        msgs[n].msg_hdr.msg_namelen = DecodeAddress(rec, family_, &addrs[n]);
        msgs[n].msg_hdr.msg_iov = &iov[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
        n++;
      }
      if (poll_.fd() < 0 || closed_) continue;  // counted as this family's, not sent
      uint32_t done = 0;
      while (done < n) {
        int r = sendmmsg(poll_.fd(), msgs + done, n - done, MSG_NOSIGNAL);
        if (r > 0) {
          for (int k = 0; k < r; k++) {
            sent += 1;
            bytes += static_cast<double>(msgs[done + k].msg_len);
          }
          done += static_cast<uint32_t>(r);
          continue;
        }
        int err = r < 0 ? errno : EIO;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          // The send buffer is full: wait once, briefly, for room; after that the rest of
          // the batch is dropped rather than stalling the event loop.
          if (!waited) {
            waited = true;
            pollfd p = {poll_.fd(), POLLOUT, 0};
            if (poll(&p, 1, kSendWaitMs) > 0) continue;
          }
          i = count;
          break;
        }
        // The datagram at `done` cannot go (no route, refused by a firewall, too big, a
        // full device queue):
        // drop it and carry on with the next.
        done++;
      }
    }
    result[0] = sent;
    result[1] = bytes;
    result[2] = mine;
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(true);
    onRead_.Reset();
    slots_.Release();
    addrs_.Reset();
    return info.Env().Undefined();
  }

  // Stops polling and closes the socket; safe to call any number of times. `unref` releases
  // the reference start() took (not from a destructor).
  void Shutdown(bool unref) {
    closed_ = true;
    poll_.Shutdown(unref);
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    UdpSocket* self = FdPoll<UdpSocket>::OwnerOf(handle);
    if (self != nullptr) self->OnReadable(status);
  }

  // Returns false (after stopping) if the JS arrays no longer fit the geometry.
  bool Arrays(uint8_t** slab, uint32_t** offsets, uint32_t** lengths, uint8_t** addrs) {
    if (!slots_.Fetch(env_, slab, offsets, lengths)) return false;
    *addrs = HeldArrayData<uint8_t>(env_, addrs_, static_cast<uint64_t>(slots_.geo.maxPackets) * kAddrRecord);
    return *addrs != nullptr;
  }

  void OnReadable(int status) {
    Napi::HandleScope scope(env_);
    if (status < 0 && !Recover()) {
      Gone(-status);
      return;
    }
    for (int round = 0; round < kRoundsPerWake && !closed_; round++) {
      uint8_t* slab;
      uint32_t *offsets, *lengths;
      uint8_t* addrs;
      // Re-read the pointers every round: the callback may have run arbitrary JS.
      if (!Arrays(&slab, &offsets, &lengths, &addrs)) {
        Gone(EFAULT);
        return;
      }
      uint32_t kept = 0, oversize = 0;
      bool full = ReceiveBatch(slab, offsets, lengths, addrs, &kept, &oversize);
      if (kept > 0 || oversize > 0) errorsInRow_ = 0;
      if (kept > 0 || oversize > 0) Deliver(kept, oversize);
      if (!full) break;
    }
  }

  // One batch: recvmmsg into every slot, then compacts away the truncated ones. Returns
  // true when every slot was filled (more may be waiting).
  bool ReceiveBatch(uint8_t* slab, uint32_t* offsets, uint32_t* lengths, uint8_t* addrs,
                    uint32_t* keptOut, uint32_t* oversizeOut) {
    const SlotGeometry& geo = slots_.geo;
    mmsghdr msgs[kChunk];
    iovec iov[kChunk];
    sockaddr_storage names[kChunk];
    uint32_t slot = 0, kept = 0, oversize = 0;
    while (slot < geo.maxPackets) {
      uint32_t n = geo.maxPackets - slot < kChunk ? geo.maxPackets - slot : kChunk;
      for (uint32_t k = 0; k < n; k++) {
        std::memset(&msgs[k], 0, sizeof msgs[k]);
        iov[k].iov_base = slab + static_cast<size_t>(slot + k) * geo.slotSize + geo.headroom;
        iov[k].iov_len = geo.maxLen;
        msgs[k].msg_hdr.msg_name = &names[k];
        msgs[k].msg_hdr.msg_namelen = sizeof names[k];
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
      }
      int r = recvmmsg(poll_.fd(), msgs, n, MSG_DONTWAIT, nullptr);
      if (r < 0) {
        if (errno == EINTR) continue;
        // EAGAIN: drained. Anything else (a pending ICMP error, say) is consumed by this
        // call and is no reason to stop reading.
        break;
      }
      for (int k = 0; k < r; k++) {
        if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
          oversize++;
          continue;
        }
        const uint32_t s = slot + static_cast<uint32_t>(k);
        offsets[kept] = s * geo.slotSize + geo.headroom;
        lengths[kept] = msgs[k].msg_len;
        EncodeAddress(names[k], addrs + static_cast<size_t>(kept) * kAddrRecord);
        kept++;
      }
      slot += static_cast<uint32_t>(r);
      if (static_cast<uint32_t>(r) < n) break;
    }
    *keptOut = kept;
    *oversizeOut = oversize;
    return slot == geo.maxPackets;
  }

  // libuv stops a poll handle and reports UV_EBADF when the fd shows POLLERR, which a UDP
  // socket does while a socket error or an error-queue entry (an ICMP error, with
  // IP_RECVERR) is pending. That is no reason to stop receiving: clear the error, drain the
  // error queue and poll again. Gives up (false) if the socket is really unusable.
  bool Recover() {
    if (closed_ || poll_.fd() < 0 || poll_.closing() || ++errorsInRow_ > kMaxErrorsInRow) return false;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(poll_.fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return false;
    for (int k = 0; k < 64; k++) {
      char byte;
      iovec iov = {&byte, 1};
      msghdr msg;
      std::memset(&msg, 0, sizeof msg);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      if (recvmsg(poll_.fd(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    }
    return poll_.Restart(OnPoll);
  }

  void Gone(int err) {
    poll_.Stop(true);
    Deliver(-static_cast<double>(err), 0);
  }

  // onRead(count, oversize), called from the event loop with `this` as the global object.
  void Deliver(double count, double oversize) {
    if (onRead_.IsEmpty()) return;
    Napi::Env env(env_);
    CallFromLoop(env_, onRead_, env.Global(), {Napi::Number::New(env, count), Napi::Number::New(env, oversize)});
  }

  napi_env env_;
  FdPoll<UdpSocket> poll_;
  int family_ = 0;
  bool closed_ = false;
  int errorsInRow_ = 0;  // poll errors since the last datagram received
  Napi::FunctionReference onRead_;
  HeldSlots slots_;
  Napi::ObjectReference addrs_;  // one 24-byte address record per slot
};

}  // namespace

Napi::Object InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpSocket", UdpSocket::Define(env));
  return exports;
}
