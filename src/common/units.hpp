#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace mcphd {

// "500ms", "10s", "5m", "1h" in milliseconds (a whole number and a unit, more than zero).
Result<int64_t> parseDuration(const std::string& s);
// "8MiB", "512KiB", "1GiB", "8MB", "1000" (bytes).
Result<size_t> parseSize(const std::string& s);
// "10%" or "12.5%" as a fraction of 1.
Result<double> parsePercent(const std::string& s);

}  // namespace mcphd
