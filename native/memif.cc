// memif (shared-memory packet interface, protocol 2.0) as VPP, libmemif and DPDK speak it:
// our own implementation, master and slave roles, wired into Node's event loop.
//
// Control: a unix SOCK_SEQPACKET socket (see memif_proto.h for the messages). The master
// listens on the socket file; several interfaces (ids) may share one listener. The slave
// connects, retrying until the master appears, allocates the shared memory (one memfd
// region holding the rings and the buffers, sealed against shrinking) and one eventfd per
// ring, and offers them to the master message by message, each answered by an ACK.
//
// Data: one N-API call moves a whole burst. rxBurst copies frames (reassembling chained
// descriptors) out of a ring straight into the slots of a JS-owned slab; txBurst copies a
// batch of frames out of a slab into a ring, chaining descriptors when a frame is larger
// than one buffer, then kicks the peer's eventfd unless the peer masked interrupts.
//
// Events: the control socket and each receive ring's eventfd are uv_poll handles on Node's
// own loop. Nothing spins unless polling mode was asked for (then our receive rings carry
// MEMIF_RING_FLAG_MASK_INT and the JS side polls rxBurst).
//
// A misbehaving peer: every message is checked (size, type, order, descriptors), every
// value read from shared memory is read once and checked before use (descriptor regions,
// offsets and lengths, ring head and tail), and accesses to peer memory run under a SIGBUS
// guard. A violation drops that connection with a reason sent to the peer and logged; the
// interface goes back to listening (master) or retrying (slave).
//
// JS API (class MemifInterface):
//   new MemifInterface(config, onEvent)   onEvent(kind, arg, text); kinds are kEvent* below
//   rxBurst(queue, slab, offsets, lengths, slotSize, headroom, maxLen, maxPackets): number
//   txBurst(queue, slab, offsets, lengths, start, count): number   frames consumed
//   readCounters(out: Float64Array)   kCountersPerQueue values per configured queue
//   info(): object                    the current connection's parameters
//   disconnect(reason)                drops the current connection (asynchronously)
//   close()                           idempotent; releases everything
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "memif_io.h"
#include "memif_proto.h"
#include "memif_test.h"
#include "napi_util.h"

namespace {

using namespace memif;
using addon::GetBytes;
using addon::GetUint;
using addon::PacketsInSlab;
using addon::SlotGeometry;
using addon::SlotsFit;

constexpr uint32_t kMaxQueuePairs = 8;
constexpr uint16_t kMaxRegionIndex = 255;
// Descriptor offsets are 32 bits: nothing beyond 4 GiB into a region is addressable.
constexpr uint64_t kMaxRegionSize = uint64_t{1} << 32;
constexpr size_t kMaxPendingChannels = 16;
constexpr int kMaxMessagesPerWakeup = 32;
constexpr int kMaxAcceptsPerWakeup = 16;
constexpr int kListenBacklog = 16;

enum EventKind {
  kEventConnected = 1,
  kEventDisconnected = 2,
  kEventReadable = 3,
  kEventLog = 4,
  kEventHandshakeFailed = 5,
};
enum LogLevel { kLogError = 0, kLogVerbose = 1, kLogDebug = 2 };

// Per-queue counters, in the order readCounters() writes them.
enum Counter {
  kRxPackets,
  kRxBytes,
  kRxDrops,
  kTxPackets,
  kTxBytes,
  kTxDrops,
  kTxRingFull,
  kCountersPerQueue,
};

// --- helpers ------------------------------------------------------------------------------

void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
}

// A NUL-terminated (or field-long) name from a message, with anything unprintable replaced:
// it ends up in logs and JS strings.
std::string FieldText(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && p[i] != 0; i++) s.push_back(p[i] >= 0x20 && p[i] < 0x7f ? static_cast<char>(p[i]) : '?');
  return s;
}

void PutText(uint8_t* dst, size_t n, const std::string& s) {
  std::memcpy(dst, s.data(), std::min(s.size(), n));
}

inline uint16_t Load16(const uint8_t* p) { return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_RELAXED); }
inline uint32_t Load32(const uint8_t* p) { return __atomic_load_n(reinterpret_cast<const uint32_t*>(p), __ATOMIC_RELAXED); }
inline uint16_t Acquire16(const uint8_t* p) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_ACQUIRE);
}
inline void Store16(uint8_t* p, uint16_t v) { __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELAXED); }
inline void Store32(uint8_t* p, uint32_t v) { __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_RELAXED); }
inline void Release16(uint8_t* p, uint16_t v) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELEASE);
}

// A 128-byte control message under construction.
struct OutMsg {
  uint8_t bytes[kMsgSize];
  int fd = -1;  // descriptor to pass along (owned elsewhere)
  explicit OutMsg(uint16_t type) {
    std::memset(bytes, 0, sizeof bytes);
    std::memcpy(bytes, &type, sizeof type);
  }
  uint16_t type() const {
    uint16_t t;
    std::memcpy(&t, bytes, sizeof t);
    return t;
  }
  template <typename T>
  T* body() {
    return reinterpret_cast<T*>(bytes + kBodyOffset);
  }
};

bool Send(int fd, const OutMsg& m) { return SendMessage(fd, m.bytes, kMsgSize, m.fd); }

void SendDisconnect(int fd, const std::string& reason) {
  OutMsg m(kMsgDisconnect);
  PutText(m.body<Disconnect>()->reason, kReasonSize - 1, reason);
  Send(fd, m);
}

const char* MessageName(uint16_t type) {
  switch (type) {
    case kMsgAck: return "ACK";
    case kMsgHello: return "HELLO";
    case kMsgInit: return "INIT";
    case kMsgAddRegion: return "ADD_REGION";
    case kMsgAddRing: return "ADD_RING";
    case kMsgConnect: return "CONNECT";
    case kMsgConnected: return "CONNECTED";
    case kMsgDisconnect: return "DISCONNECT";
    default: return "unknown";
  }
}

// The refusal for a message that arrived when it had no business arriving.
std::string Unexpected(uint16_t type) {
  if (type == kMsgNone || type > kMsgDisconnect) return "Unknown message type " + std::to_string(type);
  return std::string("Unexpected message ") + MessageName(type);
}

// --- shared memory and queues --------------------------------------------------------------

struct Region {
  uint8_t* base = nullptr;
  uint64_t size = 0;
  int fd = -1;  // kept only by the slave, which must pass it on
};

// One ring as one side sees it. "rx" rings are the ones we read (master: S2M, slave: M2S).
struct Queue {
  uint8_t* ring = nullptr;
  uint32_t size = 0;
  uint32_t mask = 0;
  uint16_t next = 0;     // rx: next slot to read; tx: next slot to fill (our head or tail)
  uint16_t offered = 0;  // slave rx only: the head we published (buffers given to the master)
  uint64_t bufOffset = 0;  // slave only: region-0 offset of slot 0's buffer
  int eventfd = -1;
  PollHandle* poll = nullptr;
  // Master, between ADD_RING and CONNECT.
  bool present = false;
  uint16_t region = 0;
  uint32_t offset = 0;
};

uint8_t* DescAt(const Queue& q, uint32_t slot) { return q.ring + kRingDesc + static_cast<size_t>(slot & q.mask) * kDescSize; }

// Where rxBurst writes: slot i's frame goes to slab[i * slotSize + headroom, +maxLen).
struct RxTarget {
  uint8_t* slab;
  uint32_t* offsets;
  uint32_t* lengths;
  uint32_t slotSize;
  uint32_t headroom;
  uint32_t maxLen;
  uint32_t maxPackets;
};

struct RxResult {
  uint32_t frames = 0;
  uint64_t bytes = 0;
  uint32_t drops = 0;
  const char* error = nullptr;
};

struct TxSource {
  const uint8_t* slab;
  const uint32_t* offsets;
  const uint32_t* lengths;
  uint32_t start;
  uint32_t count;
};

struct TxResult {
  uint32_t consumed = 0;
  uint32_t sent = 0;
  uint64_t bytes = 0;
  uint32_t drops = 0;
  bool published = false;
  const char* error = nullptr;
};

// The slave hands every consumed M2S slot straight back to the master: the descriptor is
// rewritten from our own bookkeeping (never trusting what the master left in it).
void Refill(Queue& q, uint32_t bufSize) {
  uint16_t target = static_cast<uint16_t>(q.next + q.size);
  for (uint16_t s = q.offered; s != target; s++) {
    uint8_t* d = DescAt(q, s);
    Store16(d + offsetof(Desc, flags), 0);
    Store16(d + offsetof(Desc, region), 0);
    Store32(d + offsetof(Desc, length), bufSize);
    Store32(d + offsetof(Desc, offset), static_cast<uint32_t>(q.bufOffset + static_cast<uint64_t>(s & q.mask) * bufSize));
  }
  q.offered = target;
  Release16(q.ring + kRingHead, target);
}

// Copies frames out of one receive ring. kMaster: the ring is S2M and descriptors name
// peer-chosen buffers anywhere in any region; otherwise it is our M2S ring and the buffer of
// a slot is always the one we assigned to it.
template <bool kMaster>
void RxRing(Queue& q, const std::vector<Region>& regions, uint32_t bufSize, const RxTarget& t, RxResult& r) {
  uint16_t limit;
  if (kMaster) {
    limit = Acquire16(q.ring + kRingHead);
    if (static_cast<uint16_t>(limit - q.next) > q.size) {
      r.error = "Ring head moved beyond the ring size";
      return;
    }
  } else {
    limit = Acquire16(q.ring + kRingTail);
    if (static_cast<uint16_t>(limit - q.next) > static_cast<uint16_t>(q.offered - q.next)) {
      r.error = "Ring tail moved beyond the buffers offered";
      return;
    }
  }
  const Region* reg = regions.data();
  const size_t nRegions = regions.size();
  uint16_t cur = q.next;
  uint32_t count = 0;
  while (cur != limit && count < t.maxPackets) {
    const uint16_t first = cur;
    uint8_t* dst = t.slab + static_cast<size_t>(count) * t.slotSize + t.headroom;
    uint32_t total = 0;
    bool fits = true;
    bool complete = false;
    while (cur != limit) {
      const uint8_t* d = DescAt(q, cur);
      const uint16_t flags = Load16(d + offsetof(Desc, flags));
      const uint32_t len = Load32(d + offsetof(Desc, length));
      const uint8_t* src;
      if (kMaster) {
        const uint16_t region = Load16(d + offsetof(Desc, region));
        const uint32_t off = Load32(d + offsetof(Desc, offset));
        if (region >= nRegions || static_cast<uint64_t>(off) + len > reg[region].size) {
          r.error = "Descriptor points outside its region";
          return;
        }
        src = reg[region].base + off;
      } else {
        if (len > bufSize) {
          r.error = "Descriptor length exceeds the buffer size";
          return;
        }
        src = reg[0].base + q.bufOffset + static_cast<uint64_t>(cur & q.mask) * bufSize;
      }
      cur++;
      if (fits && len <= t.maxLen - total) {
        std::memcpy(dst + total, src, len);
        total += len;
      } else {
        fits = false;
      }
      if ((flags & kDescFlagNext) == 0) {
        complete = true;
        break;
      }
    }
    if (!complete) {
      // The peer published part of a chain: leave it for when the rest arrives.
      cur = first;
      break;
    }
    if (fits && total > 0) {
      t.offsets[count] = static_cast<uint32_t>(dst - t.slab);
      t.lengths[count] = total;
      count++;
      r.bytes += total;
    } else {
      r.drops++;  // larger than a slot, or empty
    }
  }
  if (cur != q.next) {
    q.next = cur;
    if (kMaster) {
      Release16(q.ring + kRingTail, cur);
    } else {
      Refill(q, bufSize);
    }
  }
  r.frames = count;
}

// Copies frames into one transmit ring. kMaster: the ring is M2S and we fill the buffers
// the slave offered (checked against the regions); otherwise it is our S2M ring.
template <bool kMaster>
void TxRing(Queue& q, const std::vector<Region>& regions, uint32_t bufSize, const TxSource& s, TxResult& r) {
  uint16_t slot = q.next;
  uint16_t avail;
  if (kMaster) {
    avail = static_cast<uint16_t>(Acquire16(q.ring + kRingHead) - slot);
    if (avail > q.size) {
      r.error = "Ring head moved beyond the ring size";
      return;
    }
  } else {
    uint16_t inFlight = static_cast<uint16_t>(slot - Acquire16(q.ring + kRingTail));
    if (inFlight > q.size) {
      r.error = "Ring tail moved beyond the head";
      return;
    }
    avail = static_cast<uint16_t>(q.size - inFlight);
  }
  const Region* reg = regions.data();
  const size_t nRegions = regions.size();
  uint32_t i = 0;
  for (; i < s.count; i++) {
    const uint32_t len = s.lengths[s.start + i];
    const uint8_t* src = s.slab + s.offsets[s.start + i];
    if (len == 0) {
      r.drops++;
      continue;
    }
    const uint16_t firstSlot = slot;
    const uint16_t firstAvail = avail;
    uint32_t done = 0;
    while (done < len && avail > 0) {
      uint8_t* d = DescAt(q, slot);
      uint8_t* dst;
      uint32_t cap;
      if (kMaster) {
        const uint16_t region = Load16(d + offsetof(Desc, region));
        const uint32_t off = Load32(d + offsetof(Desc, offset));
        cap = Load32(d + offsetof(Desc, length));
        if (region >= nRegions || static_cast<uint64_t>(off) + cap > reg[region].size) {
          r.error = "Offered buffer lies outside its region";
          return;
        }
        if (cap == 0) {
          r.error = "Offered buffer has no room";
          return;
        }
        dst = reg[region].base + off;
      } else {
        cap = bufSize;
        const uint64_t off = q.bufOffset + static_cast<uint64_t>(slot & q.mask) * bufSize;
        dst = reg[0].base + off;
        Store16(d + offsetof(Desc, region), 0);
        Store32(d + offsetof(Desc, offset), static_cast<uint32_t>(off));
      }
      const uint32_t n = std::min(cap, len - done);
      std::memcpy(dst, src + done, n);
      done += n;
      Store32(d + offsetof(Desc, length), n);
      Store16(d + offsetof(Desc, flags), done < len ? kDescFlagNext : 0);
      slot++;
      avail--;
    }
    if (done < len) {
      slot = firstSlot;
      avail = firstAvail;
      if (firstAvail == q.size) {
        r.drops++;  // does not fit even into the whole ring
        continue;
      }
      break;  // ring full: the rest of the burst stays with the caller
    }
    r.sent++;
    r.bytes += len;
  }
  r.consumed = i;
  if (slot != q.next) {
    q.next = slot;
    Release16(q.ring + (kMaster ? kRingTail : kRingHead), slot);
    r.published = true;
  }
}

// --- configuration --------------------------------------------------------------------

struct Config {
  std::string socketPath;
  bool master = true;
  uint32_t id = 0;
  std::string secret;
  uint8_t mode = kModeEthernet;
  uint32_t queuePairs = 1;
  uint32_t log2RingSize = 10;
  uint32_t bufferSize = 2048;
  std::string ifName = "wireguard-ts";
  std::string appName = "wireguard-ts-vpp";
  bool polling = false;
  uint32_t reconnectMs = 500;
  uint32_t handshakeTimeoutMs = 5000;
};

// --- control channels and listeners --------------------------------------------------------

class MemifInterface;
struct Listener;

// One control connection. Owned through shared_ptr: a handler may drop the last owning
// reference while the channel's own callback is still on the stack.
struct Channel {
  int fd = -1;
  PollHandle* poll = nullptr;
  TimerHandle* deadline = nullptr;
  std::weak_ptr<Listener> listener;  // master side, until INIT names an interface
  MemifInterface* iface = nullptr;
  bool closed = false;

  void Close() {
    if (closed) return;
    closed = true;
    if (poll != nullptr) poll->Close();
    poll = nullptr;
    if (deadline != nullptr) deadline->Close();
    deadline = nullptr;
    CloseFd(fd);
    iface = nullptr;
  }
  ~Channel() { Close(); }
};

void OnChannelReadable(const std::shared_ptr<Channel>& ch, int status);
void OnChannelDeadline(const std::shared_ptr<Channel>& ch);

std::shared_ptr<Channel> OpenChannel(uv_loop_t* loop, int fd, uint32_t timeoutMs, int* err) {
  auto ch = std::make_shared<Channel>();
  ch->fd = fd;
  std::weak_ptr<Channel> weak = ch;
  ch->poll = PollHandle::Start(
      loop, fd,
      [weak](int status) {
        if (auto c = weak.lock()) OnChannelReadable(c, status);
      },
      err);
  if (ch->poll == nullptr) {
    ch->fd = -1;  // the caller still owns fd
    return nullptr;
  }
  ch->deadline = TimerHandle::Create(loop, [weak] {
    if (auto c = weak.lock()) OnChannelDeadline(c);
  });
  ch->deadline->Start(timeoutMs);
  return ch;
}

// A listening socket file shared by the master interfaces configured on it.
struct Listener : std::enable_shared_from_this<Listener> {
  napi_env env = nullptr;
  std::string path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  uv_loop_t* loop = nullptr;
  PollHandle* poll = nullptr;
  std::vector<MemifInterface*> ifaces;
  std::vector<std::shared_ptr<Channel>> pending;

  void OnAcceptable();
  void OnPendingMessage(const std::shared_ptr<Channel>& ch, const uint8_t* msg, size_t len, bool truncated,
                        ReceivedFds& fds);
  void Refuse(const std::shared_ptr<Channel>& ch, const std::string& reason);
  void ForgetPending(const std::shared_ptr<Channel>& ch);
  void LogAll(int level, const std::string& text);
  OutMsg Hello() const;
  void Close();
};

std::mutex gListenersMutex;
std::map<std::pair<napi_env, std::string>, std::weak_ptr<Listener>> gListeners;

// --- the interface ------------------------------------------------------------------------

class MemifInterface : public Napi::ObjectWrap<MemifInterface> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "MemifInterface",
                       {InstanceMethod<&MemifInterface::RxBurst>("rxBurst"),
                        InstanceMethod<&MemifInterface::TxBurst>("txBurst"),
                        InstanceMethod<&MemifInterface::ReadCounters>("readCounters"),
                        InstanceMethod<&MemifInterface::Info>("info"),
                        InstanceMethod<&MemifInterface::Disconnect>("disconnect"),
                        InstanceMethod<&MemifInterface::Close>("close")});
  }

  explicit MemifInterface(const Napi::CallbackInfo& info);
  ~MemifInterface() override { Shutdown(); }

  const Config& config() const { return cfg_; }
  bool idle() const { return state_ == State::kIdle && cc_ == nullptr; }

  // Master: INIT named this interface on `ch`. Returns a refusal reason, or "" and takes ch.
  std::string AcceptInit(const std::shared_ptr<Channel>& ch, const Init& init);
  void OnControl(const std::shared_ptr<Channel>& ch, const uint8_t* msg, size_t len, bool truncated, bool ctrunc,
                 ReceivedFds& fds);
  void OnHangup(const std::shared_ptr<Channel>& ch);
  void OnDeadline(const std::shared_ptr<Channel>& ch);
  void Log(int level, const std::string& text) { Emit(kEventLog, level, text); }

 private:
  enum class State { kIdle, kHandshake, kConnected };

  // JS methods
  Napi::Value RxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxBurst(const Napi::CallbackInfo& info);
  Napi::Value ReadCounters(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool ParseConfig(Napi::Env env, const Napi::Object& o);
  bool AttachListener(Napi::Env env);

  // Control plane (called from uv callbacks only: they may emit events).
  void TryConnect();
  std::string MasterMessage(uint16_t type, const uint8_t* msg, ReceivedFds& fds);
  std::string MasterAddRegion(const AddRegion& ar, ReceivedFds& fds);
  std::string MasterAddRing(const AddRing& ar, ReceivedFds& fds);
  std::string MasterConnect(const IfName& c);
  std::string SlaveMessage(uint16_t type, const uint8_t* msg);
  std::string SlaveHello(const Hello& h);
  std::string SlaveBuildMemory(uint32_t nTx, uint32_t nRx, uint32_t log2);
  std::string SlaveConnected(const IfName& c);
  bool SendNextScripted();
  void BecomeConnected();
  void StartRxPolls();
  void OnKick(uint32_t queue);
  void Drop(const std::string& reason, bool tellPeer);
  void RequestDrop(const std::string& reason);

  // Teardown without events (also used by close() and environment cleanup).
  void ReleaseConnection();
  void Shutdown();
  static void CleanupHook(void* arg);

  void Emit(int kind, double arg, const std::string& text);

  napi_env env_;
  uv_loop_t* loop_ = nullptr;
  Config cfg_;
  Napi::FunctionReference onEvent_;
  bool closed_ = false;
  bool hooked_ = false;
  bool referenced_ = false;

  State state_ = State::kIdle;
  std::shared_ptr<Channel> cc_;
  std::shared_ptr<Listener> listener_;
  TimerHandle* reconnect_ = nullptr;
  TimerHandle* deferred_ = nullptr;
  std::string pendingDrop_;

  // The current connection.
  std::vector<Region> regions_;
  std::vector<Queue> rx_;
  std::vector<Queue> tx_;
  uint32_t bufSize_ = 0;  // slave: our buffer size
  uint32_t log2_ = 0;     // slave: negotiated ring size
  std::string remoteName_;
  std::string remoteIfName_;
  // Slave handshake: the messages to send, one per ACK.
  std::vector<OutMsg> script_;
  size_t scriptSent_ = 0;
  bool helloSeen_ = false;

  double counters_[kMaxQueuePairs][kCountersPerQueue] = {};
};

// --- channel dispatch -----------------------------------------------------------------------

void OnChannelReadable(const std::shared_ptr<Channel>& ch, int status) {
  for (int n = 0; n < kMaxMessagesPerWakeup && !ch->closed; n++) {
    uint8_t buf[kMsgSize];
    size_t len = 0;
    bool truncated = false, ctrunc = false;
    ReceivedFds fds;
    RecvStatus rs = status < 0 ? RecvStatus::kClosed
                               : RecvMessage(ch->fd, buf, sizeof buf, &len, &truncated, &ctrunc, &fds);
    if (rs == RecvStatus::kAgain) return;
    if (rs == RecvStatus::kClosed) {
      if (ch->iface != nullptr) {
        ch->iface->OnHangup(ch);
      } else if (auto l = ch->listener.lock()) {
        l->ForgetPending(ch);
      } else {
        ch->Close();
      }
      return;
    }
    if (ch->iface != nullptr) {
      ch->iface->OnControl(ch, buf, len, truncated, ctrunc, fds);
    } else if (auto l = ch->listener.lock()) {
      if (ctrunc) truncated = true;
      l->OnPendingMessage(ch, buf, len, truncated, fds);
    } else {
      ch->Close();
    }
  }
}

void OnChannelDeadline(const std::shared_ptr<Channel>& ch) {
  if (ch->closed) return;
  if (ch->iface != nullptr) {
    ch->iface->OnDeadline(ch);
  } else if (auto l = ch->listener.lock()) {
    l->Refuse(ch, "Handshake timed out");
  } else {
    ch->Close();
  }
}

// --- listener -------------------------------------------------------------------------------

OutMsg Listener::Hello() const {
  OutMsg m(kMsgHello);
  auto* h = m.body<memif::Hello>();
  uint32_t queues = 1, log2 = 1;
  std::string name = "wireguard-ts-vpp";
  for (MemifInterface* i : ifaces) {
    queues = std::max(queues, i->config().queuePairs);
    log2 = std::max(log2, i->config().log2RingSize);
    name = i->config().appName;
  }
  PutText(h->name, kNameSize - 1, name);
  h->minVersion = kVersion;
  h->maxVersion = kVersion;
  h->maxRegion = kMaxRegionIndex;
  h->maxM2SRing = static_cast<uint16_t>(queues - 1);
  h->maxS2MRing = static_cast<uint16_t>(queues - 1);
  h->maxLog2RingSize = static_cast<uint8_t>(log2);
  return m;
}

void Listener::LogAll(int level, const std::string& text) {
  // Copy: a log handler may close an interface, which edits `ifaces`.
  std::vector<MemifInterface*> targets = ifaces;
  for (MemifInterface* i : targets) {
    if (std::find(ifaces.begin(), ifaces.end(), i) != ifaces.end()) i->Log(level, text);
  }
}

void Listener::OnAcceptable() {
  auto self = shared_from_this();  // a log handler may close the last interface
  for (int n = 0; n < kMaxAcceptsPerWakeup && fd >= 0; n++) {
    int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN, or a transient failure (EMFILE...): try again on the next wakeup
    }
    if (pending.size() >= kMaxPendingChannels) {
      close(c);
      LogAll(kLogError, "memif " + path + ": too many connections still in handshake; refused one");
      continue;
    }
    uint32_t timeout = 0;
    for (MemifInterface* i : ifaces) timeout = std::max(timeout, i->config().handshakeTimeoutMs);
    if (timeout == 0) timeout = 5000;
    int err = 0;
    auto ch = OpenChannel(loop, c, timeout, &err);
    if (ch == nullptr) {
      close(c);
      continue;
    }
    ch->listener = self;
    OutMsg hello = Hello();
    if (!Send(ch->fd, hello)) {
      ch->Close();
      continue;
    }
    pending.push_back(ch);
  }
}

void Listener::ForgetPending(const std::shared_ptr<Channel>& ch) {
  pending.erase(std::remove(pending.begin(), pending.end(), ch), pending.end());
  ch->Close();
}

void Listener::Refuse(const std::shared_ptr<Channel>& ch, const std::string& reason) {
  if (ch->fd >= 0) SendDisconnect(ch->fd, reason);
  ForgetPending(ch);
  LogAll(kLogVerbose, "memif " + path + ": refused a connection: " + reason);
}

void Listener::OnPendingMessage(const std::shared_ptr<Channel>& ch, const uint8_t* msg, size_t len, bool truncated,
                                ReceivedFds& /*fds*/) {
  auto self = shared_from_this();
  if (len != kMsgSize || truncated) {
    Refuse(ch, "Invalid message size");
    return;
  }
  uint16_t type;
  std::memcpy(&type, msg, sizeof type);
  if (type == kMsgDisconnect) {
    memif::Disconnect d;
    std::memcpy(&d, msg + kBodyOffset, sizeof d);
    ForgetPending(ch);
    LogAll(kLogVerbose, "memif " + path + ": peer gave up before INIT: " + FieldText(d.reason, kReasonSize));
    return;
  }
  if (type != kMsgInit) {
    Refuse(ch, Unexpected(type));
    return;
  }
  Init init;
  std::memcpy(&init, msg + kBodyOffset, sizeof init);
  if (init.version != kVersion) {
    Refuse(ch, "Incompatible memif version");
    return;
  }
  MemifInterface* target = nullptr;
  for (MemifInterface* i : ifaces) {
    if (i->config().id == init.id) target = i;
  }
  if (target == nullptr) {
    Refuse(ch, "ID not found");
    return;
  }
  pending.erase(std::remove(pending.begin(), pending.end(), ch), pending.end());
  std::string refusal = target->AcceptInit(ch, init);
  if (!refusal.empty()) {
    if (ch->fd >= 0) SendDisconnect(ch->fd, refusal);
    ch->Close();
    target->Log(kLogVerbose, "memif " + path + " id " + std::to_string(init.id) + ": refused a slave: " + refusal);
  }
}

void Listener::Close() {
  if (poll != nullptr) poll->Close();
  poll = nullptr;
  for (auto& ch : pending) ch->Close();
  pending.clear();
  if (fd >= 0) {
    // Remove the socket file only if it is still the one we bound.
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) unlink(path.c_str());
    CloseFd(fd);
  }
  std::lock_guard<std::mutex> lock(gListenersMutex);
  auto it = gListeners.find({env, path});
  if (it != gListeners.end() && it->second.lock().get() == this) gListeners.erase(it);
}

// Binds and listens on `path`, replacing a stale socket file nobody serves any more.
int OpenListenSocket(const std::string& path, std::string* what) {
  sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *what = "memif socket path exists and is not a socket";
      return -EEXIST;
    }
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (probe < 0) return -errno;
    int rc = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = errno;
    close(probe);
    if (rc == 0 || err != ECONNREFUSED) {
      *what = "another process serves memif socket";
      return -EADDRINUSE;
    }
    unlink(path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *what = "socket";
    return -errno;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(fd, kListenBacklog) < 0) {
    int err = errno;
    close(fd);
    *what = "bind/listen";
    return -err;
  }
  return fd;
}

// --- MemifInterface: construction and configuration ---------------------------------------

MemifInterface::MemifInterface(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemifInterface>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "MemifInterface(config: object, onEvent: function)").ThrowAsJavaScriptException();
    return;
  }
  if (!ParseConfig(env, info[0].As<Napi::Object>())) return;
  if (napi_get_uv_event_loop(env, &loop_) != napi_ok || loop_ == nullptr) {
    Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
    return;
  }
  InstallBusGuard();
  if (cfg_.master && !AttachListener(env)) return;
  onEvent_ = Napi::Persistent(info[1].As<Napi::Function>());
  reconnect_ = TimerHandle::Create(loop_, [this] { TryConnect(); });
  deferred_ = TimerHandle::Create(loop_, [this] {
    std::string reason = std::move(pendingDrop_);
    pendingDrop_.clear();
    if (!reason.empty() && state_ != State::kIdle) Drop(reason, true);
  });
  // The first attempt runs from the loop, so that events always come from the loop.
  if (!cfg_.master) reconnect_->Start(0);
  // While open, the native side keeps the JS object (and its callback) alive.
  Ref();
  referenced_ = true;
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  hooked_ = true;
}

bool MemifInterface::ParseConfig(Napi::Env env, const Napi::Object& o) {
  auto str = [&](const char* key, std::string* out, size_t maxLen, bool required) -> bool {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() && !required) return true;
    if (!v.IsString()) {
      Napi::TypeError::New(env, std::string(key) + " must be a string").ThrowAsJavaScriptException();
      return false;
    }
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > maxLen || s.find('\0') != std::string::npos) {
      Napi::RangeError::New(env, std::string(key) + " must be at most " + std::to_string(maxLen) +
                                     " bytes without NUL")
          .ThrowAsJavaScriptException();
      return false;
    }
    *out = s;
    return true;
  };
  auto num = [&](const char* key, uint32_t* out, uint32_t min, uint32_t max) -> bool {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return true;
    return GetUint(env, v, key, min, max, out);
  };
  auto flag = [&](const char* key, bool* out) -> bool {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return true;
    if (!v.IsBoolean()) {
      Napi::TypeError::New(env, std::string(key) + " must be a boolean").ThrowAsJavaScriptException();
      return false;
    }
    *out = v.As<Napi::Boolean>().Value();
    return true;
  };
  uint32_t mode = cfg_.mode;
  if (!str("socketPath", &cfg_.socketPath, sizeof(sockaddr_un::sun_path) - 1, true) ||
      !flag("master", &cfg_.master) || !num("id", &cfg_.id, 0, UINT32_MAX) ||
      !str("secret", &cfg_.secret, kSecretSize, false) || !num("mode", &mode, 0, 1) ||
      !num("queuePairs", &cfg_.queuePairs, 1, kMaxQueuePairs) ||
      !num("log2RingSize", &cfg_.log2RingSize, 1, kMaxLog2RingSize) ||
      !num("bufferSize", &cfg_.bufferSize, 64, 65535) || !str("interfaceName", &cfg_.ifName, kNameSize - 1, false) ||
      !str("appName", &cfg_.appName, kNameSize - 1, false) || !flag("polling", &cfg_.polling) ||
      !num("reconnectMs", &cfg_.reconnectMs, 1, 3600000) ||
      !num("handshakeTimeoutMs", &cfg_.handshakeTimeoutMs, 10, 3600000)) {
    return false;
  }
  cfg_.mode = static_cast<uint8_t>(mode);
  if (cfg_.socketPath.empty()) {
    Napi::RangeError::New(env, "socketPath must not be empty").ThrowAsJavaScriptException();
    return false;
  }
  // All of a slave's memory is one region addressed with 32-bit offsets.
  uint64_t rings = uint64_t{2} * cfg_.queuePairs;
  uint64_t bytes = rings * RingBytes(cfg_.log2RingSize) + 4096 +
                   rings * (uint64_t{1} << cfg_.log2RingSize) * cfg_.bufferSize;
  if (bytes > kMaxRegionSize) {
    Napi::RangeError::New(env, "queuePairs * 2^log2RingSize * bufferSize needs more than 4 GiB of shared memory")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool MemifInterface::AttachListener(Napi::Env env) {
  std::lock_guard<std::mutex> lock(gListenersMutex);
  auto key = std::make_pair(static_cast<napi_env>(env), cfg_.socketPath);
  auto it = gListeners.find(key);
  std::shared_ptr<Listener> l = it != gListeners.end() ? it->second.lock() : nullptr;
  if (l != nullptr) {
    for (MemifInterface* i : l->ifaces) {
      if (i->config().id == cfg_.id) {
        Napi::Error::New(env, "memif id " + std::to_string(cfg_.id) + " is already served on " + cfg_.socketPath)
            .ThrowAsJavaScriptException();
        return false;
      }
    }
  } else {
    std::string what;
    int fd = OpenListenSocket(cfg_.socketPath, &what);
    if (fd < 0) {
      ThrowErrno(env, what + " " + cfg_.socketPath, -fd);
      return false;
    }
    l = std::make_shared<Listener>();
    l->env = env;
    l->path = cfg_.socketPath;
    l->fd = fd;
    l->loop = loop_;
    struct stat st;
    if (fstat(fd, &st) == 0 && stat(cfg_.socketPath.c_str(), &st) == 0) {
      l->dev = st.st_dev;
      l->ino = st.st_ino;
    }
    std::weak_ptr<Listener> weak = l;
    int err = 0;
    l->poll = PollHandle::Start(
        loop_, fd,
        [weak](int status) {
          auto self = weak.lock();
          if (self && status >= 0) self->OnAcceptable();
        },
        &err);
    if (l->poll == nullptr) {
      unlink(cfg_.socketPath.c_str());
      CloseFd(l->fd);
      ThrowErrno(env, "uv_poll_start", -err);
      return false;
    }
    gListeners[key] = l;
  }
  l->ifaces.push_back(this);
  listener_ = l;
  return true;
}

// --- events ----------------------------------------------------------------------------------

// Calls onEvent(kind, arg, text) as a proper callback from the event loop. Only ever called
// from libuv callbacks; the caller must check closed_ afterwards (the handler may close us).
void MemifInterface::Emit(int kind, double arg, const std::string& text) {
  if (closed_ || onEvent_.IsEmpty()) return;
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Object self = Value();  // keeps us alive for the duration of the call
  addon::CallFromLoop(env_, onEvent_, self,
                      {Napi::Number::New(env, kind), Napi::Number::New(env, arg), Napi::String::New(env, text)});
}

// --- control plane ----------------------------------------------------------------------------

void MemifInterface::TryConnect() {
  if (closed_ || cfg_.master || state_ != State::kIdle) return;
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    reconnect_->Start(cfg_.reconnectMs);
    return;
  }
  sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, cfg_.socketPath.data(), cfg_.socketPath.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    // No master yet (ENOENT, ECONNREFUSED) or its backlog is full (EAGAIN): try later.
    close(fd);
    reconnect_->Start(cfg_.reconnectMs);
    return;
  }
  int err = 0;
  cc_ = OpenChannel(loop_, fd, cfg_.handshakeTimeoutMs, &err);
  if (cc_ == nullptr) {
    close(fd);
    reconnect_->Start(cfg_.reconnectMs);
    return;
  }
  cc_->iface = this;
  state_ = State::kHandshake;
  helloSeen_ = false;
  Log(kLogDebug, "memif " + cfg_.socketPath + ": connected to the master, waiting for HELLO");
}

std::string MemifInterface::AcceptInit(const std::shared_ptr<Channel>& ch, const Init& init) {
  if (closed_) return "Interface closed";
  if (state_ != State::kIdle || cc_ != nullptr) return "Already connected";
  if (init.mode != cfg_.mode) return "Mode mismatch";
  if (!cfg_.secret.empty()) {
    size_t peerLen = strnlen(reinterpret_cast<const char*>(init.secret), kSecretSize);
    if (peerLen == 0) return "Secret required";
    uint8_t diff = static_cast<uint8_t>(peerLen != cfg_.secret.size());
    for (size_t i = 0; i < kSecretSize; i++) {
      uint8_t ours = i < cfg_.secret.size() ? static_cast<uint8_t>(cfg_.secret[i]) : 0;
      diff |= static_cast<uint8_t>(ours ^ init.secret[i]);
    }
    if (diff != 0) return "Incorrect secret";
  }
  OutMsg ack(kMsgAck);
  if (!Send(ch->fd, ack)) return "Control socket write failed";
  cc_ = ch;
  ch->iface = this;
  ch->listener.reset();
  state_ = State::kHandshake;
  remoteName_ = FieldText(init.name, kNameSize);
  regions_.clear();
  rx_.assign(cfg_.queuePairs, Queue());
  tx_.assign(cfg_.queuePairs, Queue());
  return "";
}

void MemifInterface::OnHangup(const std::shared_ptr<Channel>& ch) {
  if (ch != cc_) {
    ch->Close();
    return;
  }
  Drop("Peer closed the control socket", false);
}

void MemifInterface::OnDeadline(const std::shared_ptr<Channel>& ch) {
  if (ch != cc_ || state_ == State::kConnected) return;
  Drop("Handshake timed out", true);
}

void MemifInterface::OnControl(const std::shared_ptr<Channel>& ch, const uint8_t* msg, size_t len, bool truncated,
                               bool ctrunc, ReceivedFds& fds) {
  if (ch != cc_) {
    ch->Close();
    return;
  }
  if (len != kMsgSize || truncated) {
    Drop("Invalid message size", true);
    return;
  }
  if (ctrunc) {
    Drop("Too many file descriptors in one message", true);
    return;
  }
  uint16_t type;
  std::memcpy(&type, msg, sizeof type);
  if (type == kMsgDisconnect) {
    memif::Disconnect d;
    std::memcpy(&d, msg + kBodyOffset, sizeof d);
    Drop("Peer disconnected: " + FieldText(d.reason, kReasonSize), false);
    return;
  }
  std::string refusal = state_ == State::kConnected ? Unexpected(type)
                        : cfg_.master                ? MasterMessage(type, msg, fds)
                                                     : SlaveMessage(type, msg);
  if (!refusal.empty()) Drop(refusal, true);
}

// --- master handshake ---------------------------------------------------------------------------

std::string MemifInterface::MasterMessage(uint16_t type, const uint8_t* msg, ReceivedFds& fds) {
  const uint8_t* body = msg + kBodyOffset;
  std::string refusal;
  switch (type) {
    case kMsgAddRegion: {
      AddRegion ar;
      std::memcpy(&ar, body, sizeof ar);
      refusal = MasterAddRegion(ar, fds);
      break;
    }
    case kMsgAddRing: {
      AddRing ar;
      std::memcpy(&ar, body, sizeof ar);
      refusal = MasterAddRing(ar, fds);
      break;
    }
    case kMsgConnect: {
      IfName c;
      std::memcpy(&c, body, sizeof c);
      refusal = MasterConnect(c);
      if (refusal.empty()) BecomeConnected();
      return refusal;
    }
    default:
      return Unexpected(type);
  }
  if (refusal.empty()) {
    OutMsg ack(kMsgAck);
    if (!Send(cc_->fd, ack)) refusal = "Control socket write failed";
  }
  return refusal;
}

std::string MemifInterface::MasterAddRegion(const AddRegion& ar, ReceivedFds& fds) {
  if (fds.count == 0) return "Missing region fd";
  if (ar.index != regions_.size() || ar.index > kMaxRegionIndex) return "Invalid region index";
  if (ar.size == 0 || ar.size > kMaxRegionSize) return "Invalid region size";
  int fd = fds.Take(0);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return "Region fd is not a shared memory file";
  }
  // Seal the file against shrinking where it allows that (DPDK and libmemif seal their own;
  // VPP's memfds allow sealing). Where it does not, the SIGBUS guard has to do.
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals >= 0 && (seals & F_SEAL_SHRINK) == 0) fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < ar.size) {
    close(fd);
    return "Region is larger than its file";
  }
  void* p = mmap(nullptr, ar.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) return std::string("Region mmap failed: ") + std::strerror(err);
  Region r;
  r.base = static_cast<uint8_t*>(p);
  r.size = ar.size;
  regions_.push_back(r);
  return "";
}

std::string MemifInterface::MasterAddRing(const AddRing& ar, ReceivedFds& fds) {
  if (fds.count == 0) return "Missing interrupt fd";
  // S2M rings carry the slave's transmissions: we receive on them.
  std::vector<Queue>& set = (ar.flags & kAddRingFlagS2M) != 0 ? rx_ : tx_;
  if (ar.index >= set.size()) return "Invalid ring index";
  Queue& q = set[ar.index];
  if (q.present) return "Duplicate ring";
  if (ar.region >= regions_.size()) return "Invalid ring region";
  if (ar.log2RingSize > kMaxLog2RingSize) return "Invalid ring size";
  if (ar.privateHdrSize != 0) return "Private header not supported";
  if (ar.offset % 8 != 0) return "Misaligned ring";
  if (static_cast<uint64_t>(ar.offset) + RingBytes(ar.log2RingSize) > regions_[ar.region].size) {
    return "Ring does not fit its region";
  }
  int efd = fds.Take(0);
  if (!IsEventfd(efd)) {
    close(efd);
    return "Interrupt fd is not an eventfd";
  }
  q.present = true;
  q.region = ar.region;
  q.offset = ar.offset;
  q.ring = regions_[ar.region].base + ar.offset;
  q.size = uint32_t{1} << ar.log2RingSize;
  q.mask = q.size - 1;
  q.eventfd = efd;
  return "";
}

std::string MemifInterface::MasterConnect(const IfName& c) {
  for (std::vector<Queue>* set : {&rx_, &tx_}) {
    size_t n = 0;
    while (n < set->size() && (*set)[n].present) n++;
    for (size_t i = n; i < set->size(); i++) {
      if ((*set)[i].present) return "Ring indexes are not contiguous";
    }
    if (n == 0) return set == &rx_ ? "No S2M ring" : "No M2S ring";
    set->resize(n);
  }
  const char* problem = nullptr;
  bool ok = GuardedAccess([&] {
    for (const std::vector<Queue>* set : {&rx_, &tx_}) {
      for (const Queue& q : *set) {
        if (Load32(q.ring + kRingCookie) != kCookie) problem = "Wrong ring cookie";
      }
    }
    if (problem != nullptr) return;
    for (Queue& q : rx_) {
      Store16(q.ring + kRingFlags, cfg_.polling ? kRingFlagMaskInt : 0);
      q.next = Acquire16(q.ring + kRingTail);
    }
    for (Queue& q : tx_) q.next = Acquire16(q.ring + kRingTail);
  });
  if (!ok) return "Shared memory vanished (SIGBUS)";
  if (problem != nullptr) return problem;
  remoteIfName_ = FieldText(c.name, kNameSize);
  OutMsg connected(kMsgConnected);
  PutText(connected.body<IfName>()->name, kNameSize - 1, cfg_.ifName);
  if (!Send(cc_->fd, connected)) return "Control socket write failed";
  return "";
}

// --- slave handshake ------------------------------------------------------------------------------

std::string MemifInterface::SlaveMessage(uint16_t type, const uint8_t* msg) {
  const uint8_t* body = msg + kBodyOffset;
  if (!helloSeen_) {
    if (type != kMsgHello) return Unexpected(type);
    memif::Hello h;
    std::memcpy(&h, body, sizeof h);
    helloSeen_ = true;
    std::string refusal = SlaveHello(h);
    if (!refusal.empty()) return refusal;
    return SendNextScripted() ? "" : "Control socket write failed";
  }
  if (scriptSent_ == 0) return Unexpected(type);
  uint16_t last = script_[scriptSent_ - 1].type();
  if (type == kMsgAck && last != kMsgConnect) {
    return SendNextScripted() ? "" : "Control socket write failed";
  }
  if (type == kMsgConnected && last == kMsgConnect) {
    IfName c;
    std::memcpy(&c, body, sizeof c);
    std::string refusal = SlaveConnected(c);
    if (refusal.empty()) BecomeConnected();
    return refusal;
  }
  return Unexpected(type);
}

bool MemifInterface::SendNextScripted() {
  if (scriptSent_ >= script_.size()) return false;
  return Send(cc_->fd, script_[scriptSent_++]);
}

std::string MemifInterface::SlaveHello(const memif::Hello& h) {
  if (h.minVersion > kVersion || h.maxVersion < kVersion) return "Incompatible memif version";
  uint32_t nTx = std::min<uint32_t>(uint32_t{h.maxS2MRing} + 1, cfg_.queuePairs);
  uint32_t nRx = std::min<uint32_t>(uint32_t{h.maxM2SRing} + 1, cfg_.queuePairs);
  uint32_t log2 = std::min<uint32_t>(h.maxLog2RingSize, cfg_.log2RingSize);
  remoteName_ = FieldText(h.name, kNameSize);
  std::string refusal = SlaveBuildMemory(nTx, nRx, log2);
  if (!refusal.empty()) return refusal;

  script_.clear();
  scriptSent_ = 0;
  OutMsg init(kMsgInit);
  Init* in = init.body<Init>();
  in->version = kVersion;
  in->id = cfg_.id;
  in->mode = cfg_.mode;
  PutText(in->secret, kSecretSize, cfg_.secret);
  PutText(in->name, kNameSize - 1, cfg_.appName);
  script_.push_back(init);
  OutMsg region(kMsgAddRegion);
  region.body<AddRegion>()->index = 0;
  region.body<AddRegion>()->size = regions_[0].size;
  region.fd = regions_[0].fd;
  script_.push_back(region);
  auto addRing = [&](const Queue& q, uint16_t index, bool s2m) {
    OutMsg m(kMsgAddRing);
    AddRing* ar = m.body<AddRing>();
    ar->flags = s2m ? kAddRingFlagS2M : 0;
    ar->index = index;
    ar->region = 0;
    ar->offset = static_cast<uint32_t>(q.ring - regions_[0].base);
    ar->log2RingSize = static_cast<uint8_t>(log2);
    ar->privateHdrSize = 0;
    m.fd = q.eventfd;
    script_.push_back(m);
  };
  for (size_t i = 0; i < tx_.size(); i++) addRing(tx_[i], static_cast<uint16_t>(i), true);
  for (size_t i = 0; i < rx_.size(); i++) addRing(rx_[i], static_cast<uint16_t>(i), false);
  OutMsg connect(kMsgConnect);
  PutText(connect.body<IfName>()->name, kNameSize - 1, cfg_.ifName);
  script_.push_back(connect);
  return "";
}

// One memfd region: the S2M rings, then the M2S rings, then (page-aligned) every ring's
// buffers, slot by slot.
std::string MemifInterface::SlaveBuildMemory(uint32_t nTx, uint32_t nRx, uint32_t log2) {
  const uint32_t slots = uint32_t{1} << log2;
  const uint64_t ringBytes = RingBytes(log2);
  const uint64_t ringArea = (nTx + nRx) * ringBytes;
  const uint64_t bufStart = (ringArea + 4095) & ~uint64_t{4095};
  const uint64_t size = bufStart + uint64_t{nTx + nRx} * slots * cfg_.bufferSize;
  int fd = memfd_create("memif region 0", MFD_ALLOW_SEALING | MFD_CLOEXEC);
  if (fd < 0) return std::string("memfd_create failed: ") + std::strerror(errno);
  if (ftruncate(fd, static_cast<off_t>(size)) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
    int err = errno;
    close(fd);
    return std::string("Shared memory setup failed: ") + std::strerror(err);
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    return std::string("Shared memory mmap failed: ") + std::strerror(err);
  }
  Region r;
  r.base = static_cast<uint8_t*>(p);
  r.size = size;
  r.fd = fd;
  regions_.assign(1, r);
  bufSize_ = cfg_.bufferSize;
  log2_ = log2;
  tx_.assign(nTx, Queue());
  rx_.assign(nRx, Queue());
  uint32_t ringIndex = 0;
  for (std::vector<Queue>* set : {&tx_, &rx_}) {
    for (Queue& q : *set) {
      q.ring = r.base + ringIndex * ringBytes;
      q.size = slots;
      q.mask = slots - 1;
      q.bufOffset = bufStart + uint64_t{ringIndex} * slots * bufSize_;
      std::memset(q.ring, 0, kRingDesc);
      Store32(q.ring + kRingCookie, kCookie);
      Store16(q.ring + kRingFlags, (set == &rx_ && cfg_.polling) ? kRingFlagMaskInt : 0);
      for (uint32_t s = 0; s < slots; s++) {
        uint8_t* d = DescAt(q, s);
        Store16(d + offsetof(Desc, flags), 0);
        Store16(d + offsetof(Desc, region), 0);
        Store32(d + offsetof(Desc, length), bufSize_);
        Store32(d + offsetof(Desc, offset), static_cast<uint32_t>(q.bufOffset + uint64_t{s} * bufSize_));
        Store32(d + offsetof(Desc, metadata), 0);
      }
      q.eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (q.eventfd < 0) return std::string("eventfd failed: ") + std::strerror(errno);
      ringIndex++;
    }
  }
  return "";
}

std::string MemifInterface::SlaveConnected(const IfName& c) {
  remoteIfName_ = FieldText(c.name, kNameSize);
  // Our memory (sealed), but the master writes into it too: keep to the guarded path.
  bool ok = GuardedAccess([&] {
    for (Queue& q : rx_) {
      q.next = 0;
      q.offered = 0;
      Store16(q.ring + kRingFlags, cfg_.polling ? kRingFlagMaskInt : 0);
      Refill(q, bufSize_);
    }
    for (Queue& q : tx_) q.next = Acquire16(q.ring + kRingHead);
  });
  return ok ? "" : "Shared memory vanished (SIGBUS)";
}

void MemifInterface::BecomeConnected() {
  state_ = State::kConnected;
  if (cc_->deadline != nullptr) cc_->deadline->Stop();
  StartRxPolls();
  script_.clear();
  Log(kLogVerbose, "memif " + cfg_.socketPath + " id " + std::to_string(cfg_.id) + ": connected to " + remoteName_ +
                       " (" + remoteIfName_ + "), " + std::to_string(rx_.size()) + " rx / " +
                       std::to_string(tx_.size()) + " tx queues");
  if (closed_) return;
  Emit(kEventConnected, static_cast<double>(rx_.size()), remoteName_);
}

void MemifInterface::StartRxPolls() {
  if (cfg_.polling) return;
  for (uint32_t i = 0; i < rx_.size(); i++) {
    int err = 0;
    rx_[i].poll = PollHandle::Start(loop_, rx_[i].eventfd, [this, i](int status) {
      if (status >= 0) OnKick(i);
    }, &err);
    if (rx_[i].poll == nullptr) {
      Log(kLogError, "memif " + cfg_.socketPath + ": cannot watch the interrupt fd of rx queue " + std::to_string(i) +
                         ": " + uv_strerror(err) + "; that queue must be polled");
    }
  }
}

void MemifInterface::OnKick(uint32_t queue) {
  if (queue >= rx_.size() || state_ != State::kConnected) return;
  Queue& q = rx_[queue];
  uint64_t value;
  ssize_t n = read(q.eventfd, &value, sizeof value);
  if (n != static_cast<ssize_t>(sizeof value) && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
    // Not behaving like an eventfd: stop watching it rather than spin on it.
    if (q.poll != nullptr) q.poll->Close();
    q.poll = nullptr;
    Log(kLogError, "memif " + cfg_.socketPath + ": interrupt fd of rx queue " + std::to_string(queue) +
                       " misbehaves; no longer watched");
    return;
  }
  Emit(kEventReadable, queue, "");
}

// --- teardown -------------------------------------------------------------------------------------

void MemifInterface::ReleaseConnection() {
  if (cc_ != nullptr) {
    cc_->Close();
    cc_.reset();
  }
  for (std::vector<Queue>* set : {&rx_, &tx_}) {
    for (Queue& q : *set) {
      if (q.poll != nullptr) q.poll->Close();
      q.poll = nullptr;
      CloseFd(q.eventfd);
    }
    set->clear();
  }
  for (Region& r : regions_) {
    if (r.base != nullptr) munmap(r.base, r.size);
    CloseFd(r.fd);
  }
  regions_.clear();
  script_.clear();
  scriptSent_ = 0;
  helloSeen_ = false;
  state_ = State::kIdle;
}

// Ends the current connection (or attempt), tells the peer why when asked to, and reports
// it. Only called from libuv callbacks.
void MemifInterface::Drop(const std::string& reason, bool tellPeer) {
  State was = state_;
  if (tellPeer && cc_ != nullptr && cc_->fd >= 0) SendDisconnect(cc_->fd, reason);
  ReleaseConnection();
  pendingDrop_.clear();
  if (!cfg_.master && !closed_) reconnect_->Start(cfg_.reconnectMs);
  std::string where = "memif " + cfg_.socketPath + " id " + std::to_string(cfg_.id);
  if (was == State::kConnected) {
    Log(kLogVerbose, where + ": disconnected: " + reason);
    if (closed_) return;
    Emit(kEventDisconnected, 0, reason);
  } else if (was == State::kHandshake) {
    Log(kLogVerbose, where + ": handshake failed: " + reason);
    if (closed_) return;
    Emit(kEventHandshakeFailed, 0, reason);
  }
}

// From inside a JS call: the drop (and its events) happen on the next loop turn.
void MemifInterface::RequestDrop(const std::string& reason) {
  if (pendingDrop_.empty()) {
    pendingDrop_ = reason;
    deferred_->Start(0);
  }
}

void MemifInterface::Shutdown() {
  if (closed_) return;
  closed_ = true;
  if (cc_ != nullptr && cc_->fd >= 0) SendDisconnect(cc_->fd, "Interface closed");
  ReleaseConnection();
  if (reconnect_ != nullptr) reconnect_->Close();
  reconnect_ = nullptr;
  if (deferred_ != nullptr) deferred_->Close();
  deferred_ = nullptr;
  if (listener_ != nullptr) {
    auto& v = listener_->ifaces;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
    if (v.empty()) listener_->Close();
    listener_.reset();
  }
  if (hooked_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    hooked_ = false;
  }
}

void MemifInterface::CleanupHook(void* arg) {
  MemifInterface* self = static_cast<MemifInterface*>(arg);
  self->hooked_ = false;  // being consumed; not to be removed again
  self->referenced_ = false;  // the environment is going away: no reference counting now
  self->Shutdown();
}

// --- JS methods -------------------------------------------------------------------------------------

// rxBurst(queue, slab, offsets, lengths, slotSize, headroom, maxLen, maxPackets): number
Napi::Value MemifInterface::RxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8) {
    Napi::TypeError::New(env, "rxBurst needs 8 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t queue, slotSize, headroom, maxLen, maxPackets;
  void *slabData, *offData, *lenData;
  size_t slabLen, offLen, lenLen;
  if (!GetUint(env, info[0], "queue", 0, cfg_.queuePairs - 1, &queue) ||
      !GetBytes(env, info[1], napi_uint8_array, "slab", &slabData, &slabLen) ||
      !GetBytes(env, info[2], napi_uint32_array, "offsets", &offData, &offLen) ||
      !GetBytes(env, info[3], napi_uint32_array, "lengths", &lenData, &lenLen) ||
      !GetUint(env, info[4], "slotSize", 1, UINT32_MAX, &slotSize) ||
      !GetUint(env, info[5], "headroom", 0, UINT32_MAX, &headroom) ||
      !GetUint(env, info[6], "maxLen", 1, UINT32_MAX, &maxLen) ||
      !GetUint(env, info[7], "maxPackets", 0, UINT32_MAX, &maxPackets)) {
    return env.Undefined();
  }
  if (!SlotsFit(SlotGeometry{slotSize, headroom, maxLen, maxPackets}, slabLen, offLen, lenLen)) {
    Napi::RangeError::New(env, "batch geometry does not fit the slab or arrays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (closed_ || state_ != State::kConnected || !pendingDrop_.empty() || queue >= rx_.size() || maxPackets == 0) {
    return Napi::Number::New(env, 0);
  }
  RxTarget t{static_cast<uint8_t*>(slabData), static_cast<uint32_t*>(offData), static_cast<uint32_t*>(lenData),
             slotSize, headroom, maxLen, maxPackets};
  RxResult r;
  Queue& q = rx_[queue];
  bool ok = GuardedAccess([&] {
    if (cfg_.master) {
      RxRing<true>(q, regions_, 0, t, r);
    } else {
      RxRing<false>(q, regions_, bufSize_, t, r);
    }
  });
  if (!ok || r.error != nullptr) {
    RequestDrop(ok ? r.error : "Shared memory vanished (SIGBUS)");
    return Napi::Number::New(env, 0);
  }
  double* c = counters_[queue];
  c[kRxPackets] += r.frames;
  c[kRxBytes] += static_cast<double>(r.bytes);
  c[kRxDrops] += r.drops;
  return Napi::Number::New(env, r.frames);
}

// txBurst(queue, slab, offsets, lengths, start, count): number of frames consumed (sent, or
// dropped as unsendable); frames from there on found the ring full. Not connected: every
// frame is consumed as a drop. A queue beyond the connection's count folds onto one that is.
Napi::Value MemifInterface::TxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) {
    Napi::TypeError::New(env, "txBurst needs 6 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t queue, start, count;
  void *slabData, *offData, *lenData;
  size_t slabLen, offLen, lenLen;
  if (!GetUint(env, info[0], "queue", 0, cfg_.queuePairs - 1, &queue) ||
      !GetBytes(env, info[1], napi_uint8_array, "slab", &slabData, &slabLen) ||
      !GetBytes(env, info[2], napi_uint32_array, "offsets", &offData, &offLen) ||
      !GetBytes(env, info[3], napi_uint32_array, "lengths", &lenData, &lenLen) ||
      !GetUint(env, info[4], "start", 0, UINT32_MAX, &start) || !GetUint(env, info[5], "count", 0, UINT32_MAX, &count)) {
    return env.Undefined();
  }
  if (static_cast<uint64_t>(start) + count > offLen || static_cast<uint64_t>(start) + count > lenLen) {
    Napi::RangeError::New(env, "start + count exceeds the per-packet arrays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t* offsets = static_cast<const uint32_t*>(offData);
  const uint32_t* lengths = static_cast<const uint32_t*>(lenData);
  if (!PacketsInSlab(env, offsets, lengths, start, start + count, slabLen, "packet")) return env.Undefined();
  if (closed_ || state_ != State::kConnected || !pendingDrop_.empty() || tx_.empty()) {
    counters_[queue][kTxDrops] += count;
    return Napi::Number::New(env, count);
  }
  queue %= static_cast<uint32_t>(tx_.size());
  TxSource s{static_cast<const uint8_t*>(slabData), offsets, lengths, start, count};
  TxResult r;
  Queue& q = tx_[queue];
  bool ok = GuardedAccess([&] {
    if (cfg_.master) {
      TxRing<true>(q, regions_, 0, s, r);
    } else {
      TxRing<false>(q, regions_, bufSize_, s, r);
    }
    if (r.published && r.error == nullptr && (Load16(q.ring + kRingFlags) & kRingFlagMaskInt) == 0) {
      const uint64_t one = 1;
      ssize_t n = write(q.eventfd, &one, sizeof one);
      (void)n;  // a full eventfd counter still wakes the peer
    }
  });
  if (!ok || r.error != nullptr) {
    RequestDrop(ok ? r.error : "Shared memory vanished (SIGBUS)");
    counters_[queue][kTxDrops] += count;
    return Napi::Number::New(env, count);
  }
  double* c = counters_[queue];
  c[kTxPackets] += r.sent;
  c[kTxBytes] += static_cast<double>(r.bytes);
  c[kTxDrops] += r.drops;
  c[kTxRingFull] += count - r.consumed;
  return Napi::Number::New(env, r.consumed);
}

// readCounters(out: Float64Array): kCountersPerQueue values for each configured queue.
Napi::Value MemifInterface::ReadCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data;
  size_t len;
  if (info.Length() < 1 || !GetBytes(env, info[0], napi_float64_array, "out", &data, &len)) return env.Undefined();
  const size_t need = static_cast<size_t>(cfg_.queuePairs) * kCountersPerQueue;
  if (len < need) {
    Napi::RangeError::New(env, "out is too short").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double* out = static_cast<double*>(data);
  for (uint32_t q = 0; q < cfg_.queuePairs; q++) {
    for (int k = 0; k < kCountersPerQueue; k++) out[q * kCountersPerQueue + k] = counters_[q][k];
  }
  return env.Undefined();
}

Napi::Value MemifInterface::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  bool connected = !closed_ && state_ == State::kConnected;
  o.Set("connected", Napi::Boolean::New(env, connected));
  o.Set("rxQueues", Napi::Number::New(env, connected ? rx_.size() : 0));
  o.Set("txQueues", Napi::Number::New(env, connected ? tx_.size() : 0));
  uint32_t log2 = 0;
  if (connected) {
    if (!cfg_.master) {
      log2 = log2_;
    } else if (!rx_.empty()) {
      while ((uint32_t{1} << log2) < rx_[0].size) log2++;
    }
  }
  o.Set("log2RingSize", Napi::Number::New(env, log2));
  o.Set("bufferSize", Napi::Number::New(env, connected && !cfg_.master ? bufSize_ : 0));
  o.Set("remoteName", Napi::String::New(env, connected ? remoteName_ : ""));
  o.Set("remoteInterfaceName", Napi::String::New(env, connected ? remoteIfName_ : ""));
  return o;
}

Napi::Value MemifInterface::Disconnect(const Napi::CallbackInfo& info) {
  std::string reason = "Disconnected by the application";
  if (info.Length() > 0 && info[0].IsString()) reason = info[0].As<Napi::String>().Utf8Value();
  if (!closed_ && state_ != State::kIdle) RequestDrop(reason.substr(0, kReasonSize - 1));
  return info.Env().Undefined();
}

Napi::Value MemifInterface::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  onEvent_.Reset();
  if (referenced_) {
    referenced_ = false;
    Unref();
  }
  return info.Env().Undefined();
}

}  // namespace

Napi::Object InitMemif(Napi::Env env, Napi::Object exports) {
  exports.Set("MemifInterface", MemifInterface::Define(env));
  exports.Set("memifTest", memif::DefineTestHelpers(env));
  return exports;
}
