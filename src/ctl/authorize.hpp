#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "auth/oauth2.hpp"
#include "auth/oauth2_provider.hpp"
#include "ctl/context.hpp"
#include "mcp/probe_result.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::ctl {

// The interactive OAuth authorization-code flow of mcp-healthctl (login, and probe with
// --oauth2-flow authorization_code), as the MCP authorization spec asks for it: discovery as the
// daemon does it (the issuer and https rules), dynamic client registration when no client id is
// given (RFC 7591), a loopback redirect URI on a free port (RFC 8252), PKCE S256, `state`, and the
// `resource` parameter (RFC 8707). The URL to open is printed on stderr as exactly one line,
// "Open this URL to authorize: <url>".
struct InteractiveRequest {
  // url, headers, timeouts; auth.oauth2: clientId and clientSecret (none: registered here),
  // scopes (--scope or the record's), tokenUrl (the record's: discovery must find the same one),
  // resource.
  registry::ServerSpec spec;
  int64_t waitMs = 300'000;  // for the browser to come back
  std::string addScope;      // a step-up: asked for on top of what would be asked
};

struct Authorized {
  auth::OAuth2Provider::Found server;  // what discovery found
  std::string clientId;
  Secret clientSecret;      // a confidential client's (given, or issued by registration)
  bool registered = false;  // registration made this client
  std::string authMethod;   // token_endpoint_auth_method it was registered with ("" not said)
  std::string scope;        // what was asked for ("" none)
  std::string resource;     // the resource parameter that was sent
  auth::TokenResponse tokens;
};

Outcome<Authorized> authorizeInteractively(const Context& ctx, const InteractiveRequest& in);

struct CheckedAuthorization {
  Authorized authorized;
  std::optional<mcp::ProbeResult> check;  // the last check with its access token
  bool steppedUp = false;  // authorized a second time, for more scope (authorized.scope)
};

// The flow, then one check of `target` with the access token it gave. When the server answers
// HTTP 403 insufficient_scope naming a scope not asked for yet, the user authorizes once more with
// it added (with the same client); never a third time.
Outcome<CheckedAuthorization> authorizeAndCheck(const Context& ctx, InteractiveRequest in,
                                                const registry::ServerSpec& target);

}  // namespace mcphd::ctl
