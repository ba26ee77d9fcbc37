#pragma once

// The fixed key ring of the fuzz targets: key id k1, the 32 bytes "0123456789abcdef" twice (the
// committed seeds were sealed with it).
#include <sodium.h>

#include "auth/key_ring.hpp"

namespace mcphd::fuzz {

inline auth::KeyRing& ring() {
  static auth::KeyRing* r = [] {
    if (sodium_init() < 0) {
      __builtin_trap();
    }
    auto* k = new auth::KeyRing;
    (void)k->addKey("k1", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    (void)k->setActive("k1");
    return k;
  }();
  return *r;
}

}  // namespace mcphd::fuzz
