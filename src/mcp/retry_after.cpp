#include "mcp/retry_after.hpp"

#include <time.h>

#include <string>

namespace mcphd::mcp {

std::optional<int64_t> parseRetryAfter(std::string_view value, int64_t wallNowMs) {
  if (value.empty() || value.size() > 64) {
    return std::nullopt;
  }
  bool digits = true;
  for (char c : value) {
    digits = digits && c >= '0' && c <= '9';
  }
  if (digits) {
    if (value.size() > 9) {
      return std::nullopt;
    }
    return std::stoll(std::string(value)) * 1000;
  }
  struct tm tm {};
  std::string s(value);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  int64_t atMs = static_cast<int64_t>(timegm(&tm)) * 1000;
  return atMs > wallNowMs ? atMs - wallNowMs : 0;
}

}  // namespace mcphd::mcp
