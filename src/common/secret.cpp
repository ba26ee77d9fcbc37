#include "common/secret.hpp"

#include <sodium.h>

namespace mcphd {

void wipeString(std::string& s) {
  if (s.capacity() > 0) {
    // Wipe the whole buffer, not only size(): earlier longer contents may linger.
    s.resize(s.capacity());
    sodium_memzero(s.data(), s.size());
  }
  s.clear();
}

Secret::Secret(Secret&& other) noexcept : value_(other.value_) { other.wipe(); }

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    wipe();
    value_ = other.value_;
  }
  return *this;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = other.value_;
    other.wipe();
  }
  return *this;
}

void Secret::wipe() { wipeString(value_); }

}  // namespace mcphd
