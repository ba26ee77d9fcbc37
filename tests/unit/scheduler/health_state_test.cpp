#include "scheduler/health_state.hpp"

#include <catch2/catch.hpp>

using namespace mcphd;
using namespace mcphd::scheduler;

namespace {

struct FixedRandom : Random {
  double value = 0.0;
  double uniform() override { return value; }
};

registry::ServerSpec spec() {
  registry::ServerSpec s;
  s.intervalMs = 30'000;
  s.jitter = 0.10;
  s.healthyThreshold = 2;
  s.unhealthyThreshold = 3;
  s.unhealthyIntervalMs = 5'000;
  s.maxBackoffMs = 300'000;
  return s;
}

}  // namespace

TEST_CASE("a server's first result applies at once, whatever it is") {
  for (auto [outcome, expected] : {std::pair{Outcome::kSuccess, Status::kHealthy},
                                   std::pair{Outcome::kRetriableFailure, Status::kUnhealthy},
                                   std::pair{Outcome::kHardFailure, Status::kUnhealthy},
                                   std::pair{Outcome::kDegraded, Status::kDegraded},
                                   std::pair{Outcome::kAuthRequired, Status::kAuthRequired}}) {
    HealthState s;
    CHECK(s.apply(outcome, 2, 3));
    CHECK(s.status() == expected);
  }
}

TEST_CASE("after auth_required, the first result applies at once (a login's first check)") {
  for (auto [outcome, expected] : {std::pair{Outcome::kSuccess, Status::kHealthy},
                                   std::pair{Outcome::kRetriableFailure, Status::kUnhealthy},
                                   std::pair{Outcome::kDegraded, Status::kDegraded}}) {
    HealthState s;
    s.apply(Outcome::kAuthRequired, 2, 3);
    s.apply(Outcome::kAuthRequired, 2, 3);
    CHECK(s.apply(outcome, 2, 3));
    CHECK(s.status() == expected);
  }
  // An unhealthy server still needs its two successes.
  HealthState u;
  u.apply(Outcome::kHardFailure, 2, 3);
  CHECK_FALSE(u.apply(Outcome::kSuccess, 2, 3));
  CHECK(u.status() == Status::kUnhealthy);
}

TEST_CASE("a healthy server turns unhealthy after three consecutive retriable failures") {
  HealthState s;
  s.apply(Outcome::kSuccess, 2, 3);
  CHECK_FALSE(s.apply(Outcome::kRetriableFailure, 2, 3));
  CHECK_FALSE(s.apply(Outcome::kRetriableFailure, 2, 3));
  CHECK(s.status() == Status::kHealthy);
  CHECK(s.consecutiveFailures() == 2);
  CHECK(s.apply(Outcome::kRetriableFailure, 2, 3));
  CHECK(s.status() == Status::kUnhealthy);
}

TEST_CASE("a success between failures resets the failure count") {
  HealthState s;
  s.apply(Outcome::kSuccess, 2, 3);
  s.apply(Outcome::kRetriableFailure, 2, 3);
  s.apply(Outcome::kRetriableFailure, 2, 3);
  s.apply(Outcome::kSuccess, 2, 3);
  s.apply(Outcome::kRetriableFailure, 2, 3);
  s.apply(Outcome::kRetriableFailure, 2, 3);
  CHECK(s.status() == Status::kHealthy);
}

TEST_CASE("protocol errors and HTTP 4xx turn a healthy server unhealthy at once") {
  HealthState s;
  s.apply(Outcome::kSuccess, 2, 3);
  CHECK(s.apply(Outcome::kHardFailure, 2, 3));
  CHECK(s.status() == Status::kUnhealthy);
}

TEST_CASE("an unhealthy server needs two consecutive successes to turn healthy") {
  HealthState s;
  s.apply(Outcome::kHardFailure, 2, 3);
  CHECK_FALSE(s.apply(Outcome::kSuccess, 2, 3));
  CHECK(s.status() == Status::kUnhealthy);
  CHECK(s.consecutiveSuccesses() == 1);
  CHECK(s.apply(Outcome::kSuccess, 2, 3));
  CHECK(s.status() == Status::kHealthy);
}

TEST_CASE("the next check comes after the interval plus at most the jitter") {
  FixedRandom r;
  HealthState s;
  s.apply(Outcome::kSuccess, 2, 3);
  r.value = 0.0;
  CHECK(s.nextDelayMs(spec(), std::nullopt, r) == 30'000);
  r.value = 0.999999;
  CHECK(s.nextDelayMs(spec(), std::nullopt, r) == 32'999);
  r.value = 0.5;
  CHECK(s.nextDelayMs(spec(), std::nullopt, r) == 31'500);
}

TEST_CASE("while unhealthy, retries start at unhealthy_interval and double up to max_backoff") {
  FixedRandom r;
  HealthState s;
  s.apply(Outcome::kHardFailure, 2, 3);
  std::vector<int64_t> delays;
  for (int i = 0; i < 9; ++i) {
    delays.push_back(s.nextDelayMs(spec(), std::nullopt, r));
    s.apply(Outcome::kRetriableFailure, 2, 3);
  }
  CHECK(delays == std::vector<int64_t>{5'000, 10'000, 20'000, 40'000, 80'000, 160'000, 300'000,
                                       300'000, 300'000});
}

TEST_CASE("backoff starts again from unhealthy_interval after a recovery") {
  FixedRandom r;
  HealthState s;
  s.apply(Outcome::kHardFailure, 2, 3);
  s.nextDelayMs(spec(), std::nullopt, r);
  s.nextDelayMs(spec(), std::nullopt, r);
  s.apply(Outcome::kSuccess, 2, 3);
  s.apply(Outcome::kSuccess, 2, 3);
  s.apply(Outcome::kHardFailure, 2, 3);
  CHECK(s.nextDelayMs(spec(), std::nullopt, r) == 5'000);
}

TEST_CASE("Retry-After delays the next check but never past max_backoff") {
  FixedRandom r;
  HealthState s;
  s.apply(Outcome::kRetriableFailure, 2, 3);
  CHECK(s.nextDelayMs(spec(), 60'000, r) == 60'000);
  CHECK(s.nextDelayMs(spec(), 1'000, r) == 10'000);  // shorter than the backoff: backoff wins
  CHECK(s.nextDelayMs(spec(), 86'400'000, r) == 300'000);
}
