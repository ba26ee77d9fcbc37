#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mcphd {

// True for a valid UTF-8 byte sequence (no overlong forms, no surrogates, nothing above U+10FFFF).
bool validUtf8(std::string_view s);

// `s` cut to at most `max` bytes without splitting a UTF-8 character.
std::string_view truncateUtf8(std::string_view s, size_t max);

// Cuts `text` in place to at most `max` bytes without splitting a UTF-8 character.
void truncateUtf8(std::string& text, size_t max);

}  // namespace mcphd
