#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/secret.hpp"

namespace mcphd::auth {

// Pure pieces of the OAuth 2.1 authorization-code flow as the MCP authorization spec asks for it
// (PKCE S256, the resource parameter, dynamic client registration, a loopback redirect): no I/O,
// no randomness but the PKCE verifier and the state, which come from libsodium.

// PKCE (RFC 7636): a verifier of 43 base64url characters (32 random bytes) and its S256
// challenge, base64url(SHA-256(verifier)).
struct Pkce {
  Secret verifier;
  std::string challenge;
};
Pkce makePkce();
std::string pkceChallenge(std::string_view verifier);
// An unguessable `state` (16 random bytes, base64url).
std::string randomState();

struct AuthorizationRequest {
  std::string authorizationEndpoint;
  std::string clientId;
  std::string redirectUri;
  std::string scope;  // space-separated; none: the parameter is left out
  std::string state;
  std::string codeChallenge;
  std::string resource;  // RFC 8707: the MCP server's canonical URL
};
// The URL the user opens: the endpoint (its own query kept) with response_type=code, client_id,
// redirect_uri, scope, state, code_challenge, code_challenge_method=S256 and resource.
std::string authorizationUrl(const AuthorizationRequest& r);

// The scopes to ask for (the MCP spec's scope selection): `given` (--scope), else the 401
// challenge's `scope`, else the protected resource's scopes_supported, else none; with
// offline_access added when the authorization server lists it in its scopes_supported (so that a
// refresh token comes back). Space-separated, each once.
std::string chooseScopes(const std::string& given, const std::string& challengeScope,
                         const std::vector<std::string>& resourceScopes,
                         const std::vector<std::string>& serverScopes);
// `a` then what `b` adds, each scope once.
std::string unionScopes(const std::string& a, const std::string& b);
// A scope from a server (or a Redis record) kept to scope-token characters (RFC 6749 §3.3) and
// spaces, without quotes or backslashes: it can stand quoted in a shell command and be printed.
std::string scopeTokens(std::string_view scope);

// Dynamic client registration (RFC 7591): the metadata sent, and what the answer must hold. No
// `scope`: a registration that names one may bind the client to it (oidc-provider does), and a
// later login that asks for more (a step-up, `login --scope`) would then be refused.
std::string registrationRequestJson(const std::string& redirectUri, const std::string& clientName);
struct Registration {
  std::string clientId;
  Secret clientSecret;     // empty for a public client
  std::string authMethod;  // token_endpoint_auth_method as registered ("" when not said)
};
Result<Registration> parseRegistrationResponse(std::string_view body);

// What the authorization server sent the browser back with: the query of `target` (a request
// target, "/callback?code=...&state=..."), whose path must be `path`. An `error` answer is
// returned as such (error, error_description), not as a failure.
struct Redirect {
  Secret code;
  std::string state;
  std::string error;
  std::string errorDescription;
};
Result<Redirect> parseRedirectTarget(std::string_view target, std::string_view path);
// application/x-www-form-urlencoded decoding of one value ('+' is a space); nullopt-like error
// on a bad %-escape.
Result<std::string> formDecode(std::string_view s);

// The body of the token request that exchanges `code` (a public client's id goes in it; a
// confidential client authenticates as the token endpoint asks, which the caller adds).
std::string codeExchangeBody(const Secret& code, const std::string& redirectUri,
                             const Secret& verifier, const std::string& clientId,
                             bool clientIdInBody, const std::string& resource);

}  // namespace mcphd::auth
