#pragma once

#include <string>
#include <string_view>

namespace mcphd {

// Replaces every occurrence of `secret` in `text` with "[redacted]". A server or token endpoint
// that echoes what it received must not smuggle a credential into a published error message.
// Secrets shorter than 4 characters are left alone (they would redact ordinary words).
void redact(std::string& text, std::string_view secret);

}  // namespace mcphd
