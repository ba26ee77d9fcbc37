#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mcphd {

// The form in which two http(s) URLs that name the same resource compare equal: scheme and host
// lower-cased, the default port (80 for http, 443 for https) dropped, an empty path made "/",
// the fragment (never sent on the wire) dropped; user info, path and query kept byte for byte.
// nullopt when `url` is not an absolute http:// or https:// URL with a host.
std::optional<std::string> normalizeHttpUrl(std::string_view url);

// True for a valid UTF-8 byte sequence (no overlong forms, no surrogates, nothing above U+10FFFF).
bool validUtf8(std::string_view s);

// `s` cut to at most `max` bytes without splitting a UTF-8 character.
std::string_view truncateUtf8(std::string_view s, size_t max);

}  // namespace mcphd
