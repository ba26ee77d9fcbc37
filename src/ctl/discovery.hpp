#pragma once

#include <string>

#include "auth/oauth2_provider.hpp"
#include "ctl/context.hpp"
#include "registry/record.hpp"

namespace mcphd::ctl {

// OAuth discovery as the daemon does it (the server's 401 challenge, its protected resource
// metadata, the authorization server's metadata with the issuer and https rules), run once so a
// record can hold its token endpoint: the daemon then sends the secret there and nowhere else.
// Nothing secret is sent. The token endpoint, or a failure that says to give --token-url.
// The whole of what discovery finds for `spec` (its url and headers), or a failure saying why.
// `legacyFallback` (the interactive flow): a server without protected resource metadata gets the
// 2025-03-26 spec's discovery (the authorization server at its origin).
Outcome<auth::OAuth2Provider::Found> discoverServer(const Context& ctx,
                                                    const registry::ServerSpec& spec,
                                                    bool legacyFallback = false);
Outcome<std::string> discoverTokenEndpoint(const Context& ctx, const std::string& id,
                                           const registry::RecordFields& fields);

}  // namespace mcphd::ctl
