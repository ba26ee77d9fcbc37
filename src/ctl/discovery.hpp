#pragma once

#include <string>

#include "ctl/context.hpp"
#include "registry/record.hpp"

namespace mcphd::ctl {

// OAuth discovery as the daemon does it (the server's 401 challenge, its protected resource
// metadata, the authorization server's metadata with the issuer and https rules), run once so a
// record can hold its token endpoint: the daemon then sends the secret there and nowhere else.
// Nothing secret is sent. The token endpoint, or a failure that says to give --token-url.
Outcome<std::string> discoverTokenEndpoint(const Context& ctx, const std::string& id,
                                           const registry::RecordFields& fields);

}  // namespace mcphd::ctl
