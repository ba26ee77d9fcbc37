#pragma once

#include <string>
#include <string_view>

namespace mcphd {

// Standard base64 with padding (RFC 4648 §4).
std::string base64(std::string_view bytes);
// base64url without padding (RFC 4648 §5), as JOSE and the credentials envelope use it.
std::string base64UrlNoPad(std::string_view bytes);

}  // namespace mcphd
