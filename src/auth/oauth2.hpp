#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/redact.hpp"
#include "common/result.hpp"
#include "common/secret.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::auth {

// Pure pieces of OAuth2 client credentials with the MCP authorization spec's discovery: no I/O.

// Parameters of a `WWW-Authenticate: Bearer k="v", k2=v2` challenge, keys lower-cased.
std::map<std::string, std::string> parseChallenge(std::string_view header);

struct UrlParts {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "" or "/..." without query or fragment, trailing slash dropped
};
std::optional<UrlParts> splitUrl(std::string_view url);

// Where to look for the protected resource metadata (RFC 9728) of `serverUrl`: the challenge's
// resource_metadata when given, else the path-inserted well-known URL, then the root one.
std::vector<std::string> protectedResourceCandidates(const std::string& serverUrl,
                                                     const std::string& resourceMetadata);

// Where to look for the authorization server's metadata (RFC 8414 / OIDC), in the spec's order.
std::vector<std::string> authorizationServerCandidates(const std::string& issuer);

// True when the metadata's `resource` names `serverUrl`: same origin, and the server path starts
// with the resource path segment-wise.
bool resourceMatches(const std::string& resource, const std::string& serverUrl);

// The client authentication to use with the token endpoint.
registry::TokenAuthMethod chooseMethod(registry::TokenAuthMethod configured,
                                       const std::vector<std::string>& supported, bool haveSecret,
                                       bool haveKey);

std::string formEncode(std::string_view s);

struct TokenResponse {
  Secret accessToken;
  Secret refreshToken;  // empty when none was issued
  std::optional<int64_t> expiresInSeconds;
  std::string scope;  // the scope granted, when the answer says (scope-token characters only)
};
// A 2xx token endpoint body. Errors never contain the token.
Result<TokenResponse> parseTokenResponse(std::string_view body);
// "invalid_client: Client authentication failed" from an error body, or "" when it has none;
// every form of the secrets in `redactor` removed before the parts are cut to length.
std::string tokenErrorSummary(std::string_view body, const Redactor& redactor = Redactor{});

// Discovery results worth keeping per server.
struct AuthorizationServer {
  std::string issuer;
  std::string tokenEndpoint;
  std::vector<std::string> authMethods;  // token_endpoint_auth_methods_supported
  // For the authorization-code flow (mcp-healthctl login): "" / empty when the metadata has none.
  std::string authorizationEndpoint;
  std::string registrationEndpoint;  // dynamic client registration (RFC 7591)
  std::vector<std::string> scopesSupported;
  std::vector<std::string> codeChallengeMethods;  // code_challenge_methods_supported
};
// The first authorization server of a protected resource's metadata; its `resource` and
// `scopes_supported` into the out-parameters when given.
Result<std::string> parseProtectedResource(std::string_view body, const std::string& serverUrl,
                                           std::string* resourceOut,
                                           std::vector<std::string>* scopesOut = nullptr);
Result<AuthorizationServer> parseAuthorizationServer(std::string_view body);
// The rules discovered metadata must meet before any secret goes to its token endpoint: its
// `issuer` is identical to the issuer it was fetched for (RFC 8414 §3.3), and the token endpoint
// is https:// unless its host is a loopback address (localhost, 127.0.0.0/8, ::1). The error
// says which rule failed.
Result<void> checkAuthorizationServer(const AuthorizationServer& as, const std::string& issuer);
// True when the URL's host is localhost, in 127.0.0.0/8, or ::1.
bool hasLoopbackHost(std::string_view url);

}  // namespace mcphd::auth
