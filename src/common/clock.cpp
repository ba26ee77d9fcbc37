#include "common/clock.hpp"

#include <sodium.h>

namespace mcphd {

namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

SystemRandom::SystemRandom() {
  do {
    randombytes_buf(s_, sizeof s_);
  } while ((s_[0] | s_[1] | s_[2] | s_[3]) == 0);  // the one state xoshiro cannot leave
}

double SystemRandom::uniform() {
  // xoshiro256** (Blackman and Vigna).
  const uint64_t bits = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  // 53 random bits give every double in [0, 1) that is a multiple of 2^-53.
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace mcphd
