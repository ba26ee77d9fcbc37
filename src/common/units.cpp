#include "common/units.hpp"

#include <cstdint>
#include <map>

namespace mcphd {

namespace {

// Splits "123unit" into its number (at most `maxDigits` digits) and unit.
bool splitNumber(const std::string& s, size_t maxDigits, uint64_t& number, std::string& unit) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    ++i;
  }
  if (i == 0 || i > maxDigits) {
    return false;
  }
  number = std::stoull(s.substr(0, i));
  unit = s.substr(i);
  return true;
}

}  // namespace

Result<int64_t> parseDuration(const std::string& s) {
  uint64_t v = 0;
  std::string unit;
  if (!splitNumber(s, 9, v, unit) || (unit != "ms" && unit != "s" && unit != "m" && unit != "h")) {
    return makeError("'" + s + "' is not a duration (write e.g. 500ms, 10s, 5m, 1h)");
  }
  int64_t mult = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60'000 : 3'600'000;
  if (v == 0) {
    return makeError("'" + s + "' must be longer than zero");
  }
  return static_cast<int64_t>(v) * mult;
}

Result<size_t> parseSize(const std::string& s) {
  static const std::map<std::string, size_t> kUnits = {{"", 1},
                                                       {"B", 1},
                                                       {"KiB", 1024},
                                                       {"MiB", 1024 * 1024},
                                                       {"GiB", 1UL << 30},
                                                       {"KB", 1000},
                                                       {"MB", 1000 * 1000},
                                                       {"GB", 1000UL * 1000 * 1000}};
  uint64_t v = 0;
  std::string unit;
  auto it = kUnits.end();
  if (!splitNumber(s, 12, v, unit) || (it = kUnits.find(unit)) == kUnits.end()) {
    return makeError("'" + s + "' is not a size (write e.g. 512KiB, 8MiB)");
  }
  if (v > (uint64_t{1} << 40) / it->second) {
    return makeError("'" + s + "' is too large");
  }
  return static_cast<size_t>(v * it->second);
}

Result<double> parsePercent(const std::string& s) {
  uint64_t whole = 0;
  std::string rest;
  double v = 0;
  if (!splitNumber(s, 3, whole, rest) || rest.empty() || rest.back() != '%') {
    return makeError("'" + s + "' is not a percentage (write e.g. 10%)");
  }
  rest.pop_back();
  double fraction = 0;
  if (!rest.empty()) {
    uint64_t digits = 0;
    std::string none;
    if (rest.front() != '.' || !splitNumber(rest.substr(1), 6, digits, none) || !none.empty()) {
      return makeError("'" + s + "' is not a percentage (write e.g. 10%)");
    }
    fraction = std::stod("0" + rest);
  }
  v = (static_cast<double>(whole) + fraction) / 100.0;
  if (v > 1) {
    return makeError("'" + s + "' must be between 0% and 100%");
  }
  return v;
}

}  // namespace mcphd
