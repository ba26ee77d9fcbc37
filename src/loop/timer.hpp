#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace mcphd::loop {

// A one-shot timer on the loop. Destroying it stops it; the callback may destroy or re-arm the
// timer that is calling it.
class Timer {
 public:
  virtual ~Timer() = default;
  // Arms the timer `delayMs` from now, replacing any earlier arming. A delay of 0 fires on the
  // next loop iteration, never inline.
  virtual void start(int64_t delayMs, std::function<void()> callback) = 0;
  virtual void stop() = 0;
  virtual bool active() const = 0;
};

class TimerFactory {
 public:
  virtual ~TimerFactory() = default;
  virtual std::unique_ptr<Timer> createTimer() = 0;
};

}  // namespace mcphd::loop
