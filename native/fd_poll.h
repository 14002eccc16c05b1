// One fd read from Node's event loop through a uv_poll_t on behalf of a JS object (a
// Napi::ObjectWrap): the lifetime rules tun.cc and udp.cc share. What to do when the fd is
// readable stays with each facility.
//
// Why the fd and the handle live in separate state rather than in the JS object: libuv
// finishes closing a handle later, in a callback, possibly after the object has been
// collected. And when a worker thread exits, an async cleanup hook closes them and makes Node
// wait for that callback before it unloads this addon (otherwise libuv would call into
// unmapped code).
#pragma once

#include <napi.h>
#include <uv.h>

#include <unistd.h>

#include "napi_util.h"

namespace addon {

template <typename Owner>
class FdPoll {
 public:
  explicit FdPoll(Owner* owner) : st_(new State) { st_->owner = owner; }

  // The owner is being destroyed, which only happens once polling has stopped (Start() holds
  // a reference) or at teardown. If libuv still has the handle, OnClosed frees the state.
  ~FdPoll() {
    st_->owner = nullptr;
    if (!st_->polling) delete st_;
  }

  FdPoll(const FdPoll&) = delete;
  FdPoll& operator=(const FdPoll&) = delete;

  int fd() const { return st_->fd; }
  void SetFd(int fd) { st_->fd = fd; }
  // True once Start() got as far as creating the handle: it cannot be started twice.
  bool started() const { return started_; }
  bool closing() const { return st_->closing; }

  // Starts calling onPoll whenever the fd is readable. While polling, the owner's JS object
  // (and through it the arrays reads land in) is held by a reference until Stop(true).
  // Returns false with a JS exception pending.
  bool Start(Napi::Env env, uv_poll_cb onPoll) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
      return false;
    }
    int rc = uv_poll_init(loop, &st_->poll, st_->fd);
    if (rc != 0) {  // not initialised: nothing to close
      ThrowErrno(env, "uv_poll_init", -rc);
      return false;
    }
    started_ = true;
    st_->poll.data = st_;
    st_->polling = true;
    napi_add_async_cleanup_hook(env, AsyncCleanup, st_, &st_->hook);
    rc = uv_poll_start(&st_->poll, UV_READABLE, onPoll);
    if (rc != 0) {
      ClosePoll(st_);
      ThrowErrno(env, "uv_poll_start", -rc);
      return false;
    }
    st_->owner->Ref();
    refHeld_ = true;
    return true;
  }

  // Polls again after libuv stopped the handle on an error; false if that fails.
  bool Restart(uv_poll_cb onPoll) { return uv_poll_start(&st_->poll, UV_READABLE, onPoll) == 0; }

  // Stops polling; safe to call any number of times. `release` drops the reference Start()
  // took on the JS object; a destructor must not (the object is already being collected).
  void Stop(bool release) {
    ClosePoll(st_);
    if (release && refHeld_) {
      refHeld_ = false;
      st_->owner->Unref();
    }
  }

  // Stop(release), then closes the fd: the end of the owner's life as a reader.
  void Shutdown(bool release) {
    Stop(release);
    CloseFd(st_);
  }

  // For the facility's uv_poll_cb: whom to tell about the event, or nullptr when nobody should
  // hear of it (the JS object is gone, or closing has begun).
  static Owner* OwnerOf(uv_poll_t* handle) {
    State* st = static_cast<State*>(handle->data);
    return st->owner != nullptr && !st->closing ? st->owner : nullptr;
  }

 private:
  struct State {
    uv_poll_t poll;
    int fd = -1;
    Owner* owner = nullptr;  // null once the JS object has been destroyed
    napi_async_cleanup_hook_handle hook = nullptr;
    bool polling = false;  // handle initialised and not yet fully closed
    bool closing = false;  // uv_close issued
  };

  static void CloseFd(State* st) {
    if (st->fd >= 0) {
      close(st->fd);
      st->fd = -1;
    }
  }

  static void OnClosed(uv_handle_t* h) {
    State* st = static_cast<State*>(h->data);
    // Unregisters the hook or, if it already ran, tells Node the cleanup is complete.
    if (st->hook != nullptr) napi_remove_async_cleanup_hook(st->hook);
    st->hook = nullptr;
    st->polling = false;
    st->closing = false;
    if (st->owner == nullptr) delete st;
  }

  // Stops and closes the handle (idempotent); the state may be released in OnClosed.
  static void ClosePoll(State* st) {
    if (!st->polling || st->closing) return;
    uv_poll_stop(&st->poll);
    st->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&st->poll), OnClosed);
  }

  static void AsyncCleanup(napi_async_cleanup_hook_handle, void* arg) {
    State* st = static_cast<State*>(arg);
    ClosePoll(st);
    CloseFd(st);
  }

  State* st_;
  bool started_ = false;
  bool refHeld_ = false;
};

}  // namespace addon
