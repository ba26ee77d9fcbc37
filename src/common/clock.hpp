#pragma once

#include <cstdint>

namespace mcphd {

// Time source injected into every piece of logic, so tests run in simulated time.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic microseconds; only differences are meaningful.
  virtual int64_t nowUs() const = 0;
  int64_t nowMs() const { return nowUs() / 1000; }
  // Wall-clock milliseconds since the Unix epoch, for timestamps in published messages.
  virtual int64_t wallMs() const = 0;
};

// Random source injected into the scheduler (jitter), so tests can pin it.
class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, 1).
  virtual double uniform() = 0;
};

// Jitter and backoff need no cryptographic quality: xoshiro256** seeded once from the kernel's
// CSPRNG (through libsodium). Drawing from the CSPRNG for every check cost a getrandom system
// call per check.
class SystemRandom final : public Random {
 public:
  SystemRandom();
  double uniform() override;

 private:
  uint64_t s_[4];
};

}  // namespace mcphd
