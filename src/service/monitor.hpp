#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "loop/timer.hpp"

namespace mcphd::service {

// Tells the service manager how the daemon is doing: READY=1 when started, STATUS= (a line
// from `status`) when it changes and at least every 10 s, WATCHDOG=1 every half watchdog period
// while the loop is responsive, STOPPING=1 at stop. Messages go through `send` (a Notifier in
// the daemon; a recorder in tests).
class Monitor {
 public:
  using Send = std::function<void(const std::string& message)>;
  static constexpr int64_t kStatusEveryMs = 10'000;

  Monitor(const Clock& clock, loop::TimerFactory& timers, Send send,
          std::optional<int64_t> watchdogUsec, std::function<std::string()> status);

  // READY=1 with the first STATUS=, then the periodic work.
  void ready();
  // The status may have changed: sent now if it did (at most once per loop iteration).
  void statusChanged();
  void stopping();
  // A reload began / ended (SIGHUP): RELOADING=1 with MONOTONIC_USEC, then READY=1.
  void reloading(const std::string& message);
  void reloaded();
  // How late the last periodic tick ran (a measure of how blocked the loop was), in ms.
  int64_t lastLagMs() const { return lastLagUs_ / 1000; }

 private:
  void tick();
  void sendStatus(bool force);

  const Clock& clock_;
  Send send_;
  std::optional<int64_t> watchdogUsec_;
  std::function<std::string()> status_;
  std::unique_ptr<loop::Timer> timer_;
  std::unique_ptr<loop::Timer> soon_;
  int64_t periodMs_ = kStatusEveryMs;
  int64_t dueUs_ = 0;
  int64_t lastStatusUs_ = 0;
  int64_t lastLagUs_ = 0;
  std::string lastStatus_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace mcphd::service
