// Test-only helpers for the memif hostile-peer harness (test/helpers/memif-hostile.ts),
// exported as `memifTest` next to MemifInterface. Node cannot open SOCK_SEQPACKET sockets
// or pass descriptors with SCM_RIGHTS, and a misbehaving peer needs exactly that: these
// functions are thin, non-blocking wrappers over the system calls and nothing else. They
// live in the product addon rather than a second one because CMakeLists.txt builds a single
// module; nothing in src/ uses them, and they can do nothing the process could not do with
// its own system calls.
//
//   seqpacketListen(path): fd                  throws on failure
//   seqpacketConnect(path): fd | -errno
//   seqpacketAccept(fd): fd | -errno           -EAGAIN when nobody is waiting
//   sendMessage(fd, bytes, fds[]): sent | -errno
//   recvMessage(fd, buf): { length, truncated, fds[] } | { errno }
//   memfdCreate(size, allowSealing, sealShrink): fd   throws on failure
//   eventfdCreate(): fd                        throws on failure
#pragma once

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "memif_io.h"

namespace memif {
namespace test {

inline bool PathArg(const Napi::CallbackInfo& info, sockaddr_un* addr) {
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(info.Env(), "path must be a string").ThrowAsJavaScriptException();
    return false;
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    Napi::RangeError::New(info.Env(), "path length out of range").ThrowAsJavaScriptException();
    return false;
  }
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

inline bool FdArg(const Napi::CallbackInfo& info, size_t i, int* fd) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    Napi::TypeError::New(info.Env(), "fd must be a number").ThrowAsJavaScriptException();
    return false;
  }
  *fd = info[i].As<Napi::Number>().Int32Value();
  return true;
}

inline Napi::Value Fail(Napi::Env env, const char* what) {
  Napi::Error::New(env, std::string(what) + ": " + std::strerror(errno)).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value SeqpacketListen(const Napi::CallbackInfo& info) {
  sockaddr_un addr;
  if (!PathArg(info, &addr)) return info.Env().Undefined();
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(info.Env(), "socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(fd, 8) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return Fail(info.Env(), "bind/listen");
  }
  return Napi::Number::New(info.Env(), fd);
}

inline Napi::Value SeqpacketConnect(const Napi::CallbackInfo& info) {
  sockaddr_un addr;
  if (!PathArg(info, &addr)) return info.Env().Undefined();
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(info.Env(), -errno);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return Napi::Number::New(info.Env(), -err);
  }
  return Napi::Number::New(info.Env(), fd);
}

inline Napi::Value SeqpacketAccept(const Napi::CallbackInfo& info) {
  int fd;
  if (!FdArg(info, 0, &fd)) return info.Env().Undefined();
  int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return Napi::Number::New(info.Env(), c < 0 ? -errno : c);
}

inline Napi::Value TestSendMessage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "sendMessage(fd, bytes: Uint8Array, fds: number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  Napi::Array fdArray = info[2].As<Napi::Array>();
  int fds[ReceivedFds::kMax];
  uint32_t nfds = fdArray.Length();
  if (nfds > ReceivedFds::kMax) {
    Napi::RangeError::New(env, "too many fds").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (uint32_t i = 0; i < nfds; i++) fds[i] = fdArray.Get(i).As<Napi::Number>().Int32Value();
  iovec iov;
  iov.iov_base = bytes.Data();
  iov.iov_len = bytes.ByteLength();
  msghdr mh;
  std::memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * ReceivedFds::kMax)];
  if (nfds > 0) {
    std::memset(ctl, 0, sizeof ctl);
    mh.msg_control = ctl;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
}

inline Napi::Value TestRecvMessage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsTypedArray()) {
    Napi::TypeError::New(env, "recvMessage(fd, buf: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  size_t len = 0;
  bool truncated = false, ctrunc = false;
  ReceivedFds fds;
  Napi::Object result = Napi::Object::New(env);
  RecvStatus rs = RecvMessage(fd, buf.Data(), buf.ByteLength(), &len, &truncated, &ctrunc, &fds);
  if (rs == RecvStatus::kAgain) {
    result.Set("errno", Napi::Number::New(env, EAGAIN));
    return result;
  }
  if (rs == RecvStatus::kClosed) {
    result.Set("length", Napi::Number::New(env, 0));
    result.Set("closed", Napi::Boolean::New(env, true));
  } else {
    result.Set("length", Napi::Number::New(env, static_cast<double>(len)));
  }
  result.Set("truncated", Napi::Boolean::New(env, truncated));
  Napi::Array out = Napi::Array::New(env);
  for (int i = 0; i < fds.count; i++) out.Set(i, Napi::Number::New(env, fds.Take(i)));
  result.Set("fds", out);
  return result;
}

inline Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBoolean() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "memfdCreate(size, allowSealing, sealShrink)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double size = info[0].As<Napi::Number>().DoubleValue();
  bool allowSealing = info[1].As<Napi::Boolean>().Value();
  bool seal = info[2].As<Napi::Boolean>().Value();
  int fd = memfd_create("memif test region", MFD_CLOEXEC | (allowSealing ? MFD_ALLOW_SEALING : 0));
  if (fd < 0) return Fail(env, "memfd_create");
  if (ftruncate(fd, static_cast<off_t>(size)) < 0 || (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)) {
    int err = errno;
    close(fd);
    errno = err;
    return Fail(env, "ftruncate/seal");
  }
  return Napi::Number::New(env, fd);
}

inline Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Fail(info.Env(), "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace test

inline Napi::Object DefineTestHelpers(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("seqpacketListen", Napi::Function::New(env, test::SeqpacketListen, "seqpacketListen"));
  o.Set("seqpacketConnect", Napi::Function::New(env, test::SeqpacketConnect, "seqpacketConnect"));
  o.Set("seqpacketAccept", Napi::Function::New(env, test::SeqpacketAccept, "seqpacketAccept"));
  o.Set("sendMessage", Napi::Function::New(env, test::TestSendMessage, "sendMessage"));
  o.Set("recvMessage", Napi::Function::New(env, test::TestRecvMessage, "recvMessage"));
  o.Set("memfdCreate", Napi::Function::New(env, test::MemfdCreate, "memfdCreate"));
  o.Set("eventfdCreate", Napi::Function::New(env, test::EventfdCreate, "eventfdCreate"));
  return o;
}

}  // namespace memif
