#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcphd::json {

// Appends `s` as a JSON string literal (quoted, escaped). Invalid UTF-8 bytes become U+FFFD so the
// output is always valid JSON whatever a server sent.
void appendString(std::string& out, std::string_view s);
std::string quote(std::string_view s);

// Appends a number of milliseconds with microsecond precision ("12.345").
void appendMillis(std::string& out, int64_t micros);

// RFC 3339 UTC with milliseconds: 2026-11-26T14:39:12.123Z
std::string rfc3339Millis(int64_t wallMs);
// Appends it as a JSON string (quoted), without a temporary string.
void appendRfc3339Millis(std::string& out, int64_t wallMs);
// The inverse, for exactly that form (what rfc3339Millis writes); nullopt for anything else.
std::optional<int64_t> parseRfc3339Millis(std::string_view text);

}  // namespace mcphd::json
