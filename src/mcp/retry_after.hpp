#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mcphd::mcp {

// Retry-After as a delay in ms: delta-seconds or an IMF-fixdate relative to `wallNowMs`. Absent,
// malformed or past values give nullopt / 0.
std::optional<int64_t> parseRetryAfter(std::string_view value, int64_t wallNowMs);

}  // namespace mcphd::mcp
