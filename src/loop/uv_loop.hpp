#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "loop/timer.hpp"

namespace mcphd::loop {

// Closes a heap-allocated libuv handle and frees it in its close callback, the only place where
// libuv allows the memory to go (Node's HandleWrap pattern). `T` is the uv handle type.
template <typename T>
void closeAndDelete(T* handle) {
  auto* h = reinterpret_cast<uv_handle_t*>(handle);
  if (uv_is_closing(h)) {
    return;
  }
  uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
}

// The process's one event loop. Also the production Clock and TimerFactory.
class UvLoop final : public Clock, public TimerFactory {
 public:
  UvLoop();
  ~UvLoop() override;
  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;

  uv_loop_t* raw() { return &loop_; }
  // Runs until stop() or until nothing is left to do.
  void run();
  void stop() { uv_stop(&loop_); }
  // Runs the loop until every closing handle has finished closing, then closes the loop. Fails,
  // naming the handle types, when a handle is still open: that is a leak in the caller.
  Result<void> close();

  int64_t nowUs() const override;
  int64_t wallMs() const override;
  std::unique_ptr<Timer> createTimer() override;

 private:
  uv_loop_t loop_{};
  bool closed_ = false;
};

// A signal watcher (SIGINT, SIGTERM, SIGHUP) on the loop; unref'd so it never keeps the loop alive.
class UvSignal {
 public:
  UvSignal(UvLoop& loop, int signum, std::function<void()> callback);
  ~UvSignal();
  UvSignal(const UvSignal&) = delete;
  UvSignal& operator=(const UvSignal&) = delete;

 private:
  uv_signal_t* handle_;
  std::function<void()> callback_;
};

}  // namespace mcphd::loop
