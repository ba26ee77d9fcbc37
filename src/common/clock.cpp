#include "common/clock.hpp"

#include <sodium.h>

namespace mcphd {

double SystemRandom::uniform() {
  // 53 random bits give every double in [0, 1) that is a multiple of 2^-53.
  uint64_t bits = 0;
  randombytes_buf(&bits, sizeof(bits));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace mcphd
