#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/clock.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::scheduler {

// kQuarantined is never a HealthState's own: it is a healthy server whose tool set the
// tool-baseline stage quarantines (Scheduler overlays it on the health status).
enum class Status { kUnknown, kHealthy, kDegraded, kUnhealthy, kAuthRequired, kQuarantined };
const char* statusName(Status s);
// The status a name stands for (the inverse of statusName); nullopt for any other text.
std::optional<Status> statusFromName(std::string_view name);

// How one check ended, as far as the state machine cares.
enum class Outcome {
  kSuccess,           // initialize and the whole tools/list succeeded
  kDegraded,          // initialize succeeded, tools/list failed: applies at once
  kRetriableFailure,  // timeout, DNS, connect, TLS, HTTP 5xx/429: counts toward the threshold
  kHardFailure,       // protocol errors, HTTP 4xx, auth, config: applies at once
  kAuthRequired,      // an authorization_code server without a usable refresh token: at once
};

// The health state machine of one server (pure logic, no timers).
class HealthState {
 public:
  // Applies one check outcome; returns true when the status changed.
  bool apply(Outcome outcome, int healthyThreshold, int unhealthyThreshold);

  // Delay until the next check, after the outcome was applied: the interval plus up to `jitter`
  // of it; while unhealthy, unhealthy_interval doubling per retry up to max_backoff, plus jitter;
  // never sooner than Retry-After (itself capped at max_backoff).
  int64_t nextDelayMs(const registry::ServerSpec& spec, std::optional<int64_t> retryAfterMs,
                      Random& random);

  // Continues from a state published by another member (a hand-over): its status and counts,
  // and while unhealthy the backoff step its failures beyond the threshold reached (as
  // firstCheckDelayMs estimates it for the first retry, which comes before this state's next).
  void restore(Status status, int consecutiveFailures, int consecutiveSuccesses,
               int unhealthyThreshold);

  Status status() const { return status_; }
  int consecutiveFailures() const { return failures_; }
  int consecutiveSuccesses() const { return successes_; }

 private:
  Status status_ = Status::kUnknown;
  int failures_ = 0;
  int successes_ = 0;
  int backoffStep_ = 0;
};

}  // namespace mcphd::scheduler
