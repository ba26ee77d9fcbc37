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

}  // namespace mcphd
