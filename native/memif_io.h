// Small building blocks for native/memif.cc: libuv handles whose memory outlives their
// owners until libuv has finished with them, file-descriptor hygiene for SCM_RIGHTS, and the
// SIGBUS guard that makes a peer's shrinking of shared memory a protocol error instead of a
// crash. Nothing here knows the memif protocol.
#pragma once

#include <uv.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

namespace memif {

// A uv_poll_t watching one fd for readability. Close() stops it; the memory is released by
// libuv's close callback, so Close() may be called from inside the callback itself.
class PollHandle {
 public:
  using Callback = std::function<void(int status)>;

  // Returns nullptr and sets *err (a libuv error) on failure.
  static PollHandle* Start(uv_loop_t* loop, int fd, Callback cb, int* err) {
    PollHandle* p = new PollHandle(std::move(cb));
    int rc = uv_poll_init(loop, &p->handle_, fd);
    if (rc != 0) {
      delete p;
      *err = rc;
      return nullptr;
    }
    p->handle_.data = p;
    rc = uv_poll_start(&p->handle_, UV_READABLE, OnPoll);
    if (rc != 0) {
      p->Close();
      *err = rc;
      return nullptr;
    }
    return p;
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    uv_poll_stop(&handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), OnClosed);
  }

 private:
  explicit PollHandle(Callback cb) : cb_(std::move(cb)) {}
  static void OnPoll(uv_poll_t* h, int status, int /*events*/) {
    PollHandle* p = static_cast<PollHandle*>(h->data);
    if (!p->closed_) p->cb_(status);
  }
  static void OnClosed(uv_handle_t* h) { delete static_cast<PollHandle*>(h->data); }

  uv_poll_t handle_;
  Callback cb_;
  bool closed_ = false;
};

// A one-shot uv_timer_t that can be re-armed; same lifetime rules as PollHandle.
class TimerHandle {
 public:
  static TimerHandle* Create(uv_loop_t* loop, std::function<void()> cb) {
    TimerHandle* t = new TimerHandle(std::move(cb));
    uv_timer_init(loop, &t->handle_);
    t->handle_.data = t;
    return t;
  }
  void Start(uint64_t ms) {
    if (!closed_) uv_timer_start(&handle_, OnTimer, ms, 0);
  }
  void Stop() {
    if (!closed_) uv_timer_stop(&handle_);
  }
  void Close() {
    if (closed_) return;
    closed_ = true;
    uv_timer_stop(&handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), OnClosed);
  }

 private:
  explicit TimerHandle(std::function<void()> cb) : cb_(std::move(cb)) {}
  static void OnTimer(uv_timer_t* h) {
    TimerHandle* t = static_cast<TimerHandle*>(h->data);
    if (!t->closed_) t->cb_();
  }
  static void OnClosed(uv_handle_t* h) { delete static_cast<TimerHandle*>(h->data); }

  uv_timer_t handle_;
  std::function<void()> cb_;
  bool closed_ = false;
};

inline void CloseFd(int& fd) {
  if (fd >= 0) {
    close(fd);
    fd = -1;
  }
}

// File descriptors that arrived with one message. Whatever the handler does not Take() is
// closed when the set goes out of scope, so a peer cannot leak descriptors into us.
struct ReceivedFds {
  static constexpr int kMax = 4;
  int fds[kMax];
  int count = 0;
  ReceivedFds() {
    for (int& f : fds) f = -1;
  }
  ~ReceivedFds() {
    for (int& f : fds) CloseFd(f);
  }
  ReceivedFds(const ReceivedFds&) = delete;
  ReceivedFds& operator=(const ReceivedFds&) = delete;
  void Add(int fd) {
    if (count < kMax) {
      fds[count++] = fd;
    } else {
      close(fd);
    }
  }
  int Take(int i) {
    int fd = fds[i];
    fds[i] = -1;
    return fd;
  }
};

enum class RecvStatus { kMessage, kAgain, kClosed };

// One recvmsg on a non-blocking SOCK_SEQPACKET socket. `len` is the message's real length
// when it did not fit (MSG_TRUNC), `ctrunc` tells that descriptors were dropped.
inline RecvStatus RecvMessage(int fd, uint8_t* buf, size_t cap, size_t* len, bool* truncated, bool* ctrunc,
                              ReceivedFds* fds) {
  iovec iov;
  iov.iov_base = buf;
  iov.iov_len = cap;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * ReceivedFds::kMax)];
  msghdr mh;
  std::memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  ssize_t n;
  do {
    n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? RecvStatus::kAgain : RecvStatus::kClosed;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n_fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n_fds; i++) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds->Add(received);
    }
  }
  // A zero-length read on a seqpacket socket is the end of the connection.
  if (n == 0) return RecvStatus::kClosed;
  *len = static_cast<size_t>(n);
  *truncated = (mh.msg_flags & MSG_TRUNC) != 0 || static_cast<size_t>(n) > cap;
  *ctrunc = (mh.msg_flags & MSG_CTRUNC) != 0;
  return RecvStatus::kMessage;
}

// One sendmsg of `len` bytes with an optional descriptor; never blocks, never raises SIGPIPE.
inline bool SendMessage(int fd, const uint8_t* buf, size_t len, int passFd) {
  iovec iov;
  iov.iov_base = const_cast<uint8_t*>(buf);
  iov.iov_len = len;
  msghdr mh;
  std::memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  if (passFd >= 0) {
    std::memset(ctl, 0, sizeof ctl);
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passFd, sizeof(int));
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(len);
}

// True when fd is an eventfd (checked through /proc, which names anonymous inodes). Where
// /proc is not mounted the answer is "yes": the read loop guards against anything else.
inline bool IsEventfd(int fd) {
  char link[64];
  char target[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return errno == ENOENT;
  target[n] = '\0';
  return std::strcmp(target, "anon_inode:[eventfd]") == 0;
}

// --- SIGBUS guard -------------------------------------------------------------------------
//
// A region is a memfd the peer also holds. If the peer shrinks it, our next access to the
// vanished pages raises SIGBUS, which would kill the process. Regions are sealed against
// shrinking whenever the file allows it, but hugetlbfs files and memfds created without
// MFD_ALLOW_SEALING cannot be sealed. So every access to peer memory runs inside
// GuardedAccess(): a SIGBUS there jumps back out of it, and the caller drops the
// connection. Faults anywhere else are handed on to whatever handled SIGBUS before us.

inline thread_local sigjmp_buf* tBusJump = nullptr;

inline struct sigaction& PreviousBusAction() {
  static struct sigaction prev;
  return prev;
}

inline void OnSigbus(int sig, siginfo_t* info, void* uctx) {
  sigjmp_buf* jump = tBusJump;
  if (jump != nullptr) {
    tBusJump = nullptr;
    siglongjmp(*jump, 1);
  }
  struct sigaction& prev = PreviousBusAction();
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, uctx);
    return;
  }
  if ((prev.sa_flags & SA_SIGINFO) == 0 && prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // Not ours and nobody else's: restore the default action; returning re-executes the
  // faulting access, which then terminates the process as it would have without us.
  signal(SIGBUS, SIG_DFL);
}

inline void InstallBusGuard() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnSigbus;
    // SA_NODEFER: the signal stays unblocked after siglongjmp leaves the handler.
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &PreviousBusAction());
  });
}

// Runs body(); returns false if it was cut short by a SIGBUS. The body must not own
// anything with a destructor (a fault skips its unwinding) and results it leaves behind
// are only meaningful when true is returned.
template <typename Body>
inline bool GuardedAccess(Body&& body) {
  sigjmp_buf jump;
  sigjmp_buf* volatile previous = tBusJump;
  if (sigsetjmp(jump, 0) != 0) {
    tBusJump = previous;
    return false;
  }
  tBusJump = &jump;
  body();
  tBusJump = previous;
  return true;
}

}  // namespace memif
