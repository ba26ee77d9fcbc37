#pragma once

#include <string>
#include <string_view>

namespace mcphd {

// A string holding a secret (token, password): wiped with sodium_memzero when destroyed or
// replaced, never printable through operator<<. Copies are allowed because every copy wipes itself.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret& other) : value_(other.value_) {}
  Secret(Secret&& other) noexcept;
  Secret& operator=(const Secret& other);
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { wipe(); }

  // The clear text, only for building the request that needs it.
  std::string_view reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  bool operator==(const Secret& other) const { return value_ == other.value_; }

 private:
  void wipe();
  std::string value_;
};

// Wipes a plain string that held a secret.
void wipeString(std::string& s);

}  // namespace mcphd
