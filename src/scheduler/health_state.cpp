#include "scheduler/health_state.hpp"

#include <algorithm>

namespace mcphd::scheduler {

const char* statusName(Status s) {
  switch (s) {
    case Status::kUnknown:
      return "unknown";
    case Status::kHealthy:
      return "healthy";
    case Status::kDegraded:
      return "degraded";
    case Status::kUnhealthy:
      return "unhealthy";
    case Status::kAuthRequired:
      return "auth_required";
    case Status::kQuarantined:
      return "quarantined";
  }
  return "unknown";
}

std::optional<Status> statusFromName(std::string_view name) {
  for (Status s : {Status::kUnknown, Status::kHealthy, Status::kDegraded, Status::kUnhealthy,
                   Status::kAuthRequired, Status::kQuarantined}) {
    if (name == statusName(s)) {
      return s;
    }
  }
  return std::nullopt;
}

bool HealthState::apply(Outcome outcome, int healthyThreshold, int unhealthyThreshold) {
  const Status before = status_;
  // auth_required says nothing of the server (it could not be checked without a token): the
  // first check after a login applies at once, as a first result does.
  const bool first = status_ == Status::kUnknown || status_ == Status::kAuthRequired;
  if (outcome == Outcome::kSuccess) {
    ++successes_;
    failures_ = 0;
    if (first || successes_ >= healthyThreshold) {
      status_ = Status::kHealthy;
    }
  } else {
    ++failures_;
    successes_ = 0;
    switch (outcome) {
      case Outcome::kDegraded:
        status_ = Status::kDegraded;
        break;
      case Outcome::kHardFailure:
        status_ = Status::kUnhealthy;
        break;
      case Outcome::kAuthRequired:
        status_ = Status::kAuthRequired;
        break;
      case Outcome::kRetriableFailure:
        if (first || failures_ >= unhealthyThreshold) {
          status_ = Status::kUnhealthy;
        }
        break;
      case Outcome::kSuccess:
        break;
    }
  }
  if (status_ != Status::kUnhealthy) {
    backoffStep_ = 0;
  }
  return status_ != before;
}

void HealthState::restore(Status status, int consecutiveFailures, int consecutiveSuccesses,
                          int unhealthyThreshold) {
  // Quarantined is healthy underneath: the overlay comes back with the next verdict.
  status_ = status == Status::kQuarantined ? Status::kHealthy : status;
  failures_ = std::max(0, consecutiveFailures);
  successes_ = std::max(0, consecutiveSuccesses);
  // The retry after the hand-over is due by firstCheckDelayMs (step failures - threshold); the
  // one after it doubles that, as it would have with the member that had the server.
  backoffStep_ = status_ == Status::kUnhealthy
                     ? std::max(0, failures_ - std::max(1, unhealthyThreshold) + 1)
                     : 0;
}

int64_t HealthState::nextDelayMs(const registry::ServerSpec& spec,
                                 std::optional<int64_t> retryAfterMs, Random& random) {
  int64_t base = spec.intervalMs;
  if (status_ == Status::kUnhealthy) {
    base = spec.unhealthyIntervalMs;
    for (int i = 0; i < backoffStep_ && base < spec.maxBackoffMs; ++i) {
      base *= 2;
    }
    base = std::min(base, spec.maxBackoffMs);
    if (base < spec.maxBackoffMs) {
      ++backoffStep_;
    }
  }
  base = std::max<int64_t>(base, 1);
  auto jitter = static_cast<int64_t>(random.uniform() * spec.jitter * static_cast<double>(base));
  int64_t delay = base + jitter;
  if (retryAfterMs) {
    delay = std::max(delay, std::min(*retryAfterMs, spec.maxBackoffMs));
  }
  return delay;
}

}  // namespace mcphd::scheduler
