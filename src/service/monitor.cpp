#include "service/monitor.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace mcphd::service {

Monitor::Monitor(const Clock& clock, loop::TimerFactory& timers, Send send,
                 std::optional<int64_t> watchdogUsec, std::function<std::string()> status)
    : clock_(clock),
      send_(std::move(send)),
      watchdogUsec_(watchdogUsec),
      status_(std::move(status)),
      timer_(timers.createTimer()),
      soon_(timers.createTimer()) {
  if (watchdogUsec_) {
    // sd_watchdog_enabled(3): ping every half of the period.
    periodMs_ = std::clamp<int64_t>(*watchdogUsec_ / 2000, 1, kStatusEveryMs);
  }
}

void Monitor::ready() {
  started_ = true;
  lastStatus_ = status_();
  lastStatusUs_ = clock_.nowUs();
  send_("READY=1\nSTATUS=" + lastStatus_);
  if (watchdogUsec_) {
    send_("WATCHDOG=1");
  }
  dueUs_ = clock_.nowUs() + periodMs_ * 1000;
  timer_->start(periodMs_, [this] { tick(); });
}

void Monitor::tick() {
  if (stopped_) {
    return;
  }
  const int64_t now = clock_.nowUs();
  const int64_t lateUs = now - dueUs_;
  lastLagUs_ = std::max<int64_t>(0, lateUs);
  if (watchdogUsec_) {
    // The loop ran this timer; if it ran it very late, the loop was stuck for that long: no ping
    // for this round (the next on-time one pings; a loop stuck for good gets restarted).
    if (lateUs < *watchdogUsec_ / 2) {
      send_("WATCHDOG=1");
    } else {
      log::warn("the event loop was blocked for " + std::to_string(lateUs / 1000) +
                " ms; skipping a watchdog ping");
    }
  }
  sendStatus(now - lastStatusUs_ >= kStatusEveryMs * 1000);
  dueUs_ = now + periodMs_ * 1000;
  timer_->start(periodMs_, [this] { tick(); });
}

void Monitor::statusChanged() {
  if (stopped_ || !started_ || soon_->active()) {
    return;
  }
  soon_->start(0, [this] { sendStatus(false); });
}

void Monitor::sendStatus(bool force) {
  std::string s = status_();
  if (!force && s == lastStatus_) {
    return;
  }
  lastStatus_ = std::move(s);
  lastStatusUs_ = clock_.nowUs();
  send_("STATUS=" + lastStatus_);
}

void Monitor::stopping() {
  stopped_ = true;
  timer_->stop();
  soon_->stop();
  send_("STOPPING=1\nSTATUS=stopping");
}

void Monitor::reloading(const std::string& message) { send_(message + "\nSTATUS=reloading"); }

void Monitor::reloaded() {
  lastStatus_ = status_();
  lastStatusUs_ = clock_.nowUs();
  send_("READY=1\nSTATUS=" + lastStatus_);
}

}  // namespace mcphd::service
