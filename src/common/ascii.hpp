#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace mcphd {

// `s` with A-Z lowered (header names, host names; locale-independent for ASCII).
inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace mcphd
