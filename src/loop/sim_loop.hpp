#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include "common/clock.hpp"
#include "loop/timer.hpp"

namespace mcphd::loop {

// Simulated time for unit tests: a Clock and a TimerFactory whose timers fire only when the test
// advances time. Timers due at the same instant fire in the order they were armed.
class SimLoop final : public Clock, public TimerFactory {
 public:
  int64_t nowUs() const override { return now_ * 1000; }
  int64_t wallMs() const override { return kWallEpochMs + now_; }
  std::unique_ptr<Timer> createTimer() override;

  // Moves time forward by `ms`, firing every timer that falls due on the way.
  void advance(int64_t ms);
  // Fires timers due now (including 0 ms ones armed by callbacks) without moving time.
  void runDue() { advance(0); }
  // Time until the next armed timer, or -1 when none is armed.
  int64_t nextDueIn() const;
  size_t armedTimers() const { return queue_.size(); }

  static constexpr int64_t kWallEpochMs = 1'790'000'000'000;  // 2026-09-21, a fixed wall origin

 private:
  friend class SimTimer;
  struct Entry {
    virtual ~Entry() = default;
    virtual void fire() = 0;
  };
  using Key = std::pair<int64_t, uint64_t>;  // (due time, arming order)
  Key arm(int64_t delayMs, Entry* entry);
  void disarm(const Key& key) { queue_.erase(key); }

  int64_t now_ = 0;
  uint64_t order_ = 0;
  std::map<Key, Entry*> queue_;
};

}  // namespace mcphd::loop
