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

// Random backed by libsodium's CSPRNG: jitter needs no cryptographic quality, but this avoids a
// second generator and is seeded by the kernel.
class SystemRandom final : public Random {
 public:
  double uniform() override;
};

}  // namespace mcphd
