#include "auth/oauth2.hpp"

#include <catch2/catch.hpp>

using namespace mcphd::auth;
using mcphd::registry::TokenAuthMethod;

TEST_CASE("WWW-Authenticate challenges are parsed, quoted or not") {
  auto p = parseChallenge(
      R"(Bearer error="invalid_token", error_description="Missing \"Authorization\" header", resource_metadata="http://localhost:38391/.well-known/oauth-protected-resource/mcp", scope=mcp:read)");
  CHECK(p["error"] == "invalid_token");
  CHECK(p["error_description"] == "Missing \"Authorization\" header");
  CHECK(p["resource_metadata"] ==
        "http://localhost:38391/.well-known/oauth-protected-resource/mcp");
  CHECK(p["scope"] == "mcp:read");
  CHECK(parseChallenge("").empty());
  CHECK(parseChallenge("Bearer").empty());
}

TEST_CASE("protected resource metadata URLs: the challenge's, else path-inserted, then root") {
  CHECK(protectedResourceCandidates("http://h:1/mcp", "http://x/meta") ==
        std::vector<std::string>{"http://x/meta"});
  CHECK(protectedResourceCandidates("https://h/tenant/mcp/?q=1", "") ==
        std::vector<std::string>{"https://h/.well-known/oauth-protected-resource/tenant/mcp",
                                 "https://h/.well-known/oauth-protected-resource"});
  CHECK(protectedResourceCandidates("https://h", "") ==
        std::vector<std::string>{"https://h/.well-known/oauth-protected-resource"});
}

TEST_CASE(
    "authorization server metadata URLs follow the spec's order, never the root for a path "
    "issuer") {
  CHECK(authorizationServerCandidates("https://as.example") ==
        std::vector<std::string>{"https://as.example/.well-known/oauth-authorization-server",
                                 "https://as.example/.well-known/openid-configuration"});
  CHECK(
      authorizationServerCandidates("https://as.example/tenant1/") ==
      std::vector<std::string>{"https://as.example/.well-known/oauth-authorization-server/tenant1",
                               "https://as.example/.well-known/openid-configuration/tenant1",
                               "https://as.example/tenant1/.well-known/openid-configuration"});
}

TEST_CASE("the metadata's resource must name the server") {
  CHECK(resourceMatches("http://localhost:38391/mcp", "http://localhost:38391/mcp"));
  CHECK(resourceMatches("http://localhost:38391", "http://localhost:38391/mcp"));
  CHECK(resourceMatches("HTTP://LOCALHOST:38391/mcp/", "http://localhost:38391/mcp"));
  CHECK_FALSE(resourceMatches("https://evil.example.com/mcp", "http://localhost:38391/mcp"));
  CHECK_FALSE(resourceMatches("http://localhost:38391/mc", "http://localhost:38391/mcp"));
  CHECK_FALSE(resourceMatches("http://localhost:38392/mcp", "http://localhost:38391/mcp"));
}

TEST_CASE("client authentication: basic by default, post when only it is listed, JWT with a key") {
  CHECK(chooseMethod(TokenAuthMethod::kAuto, {}, true, false) ==
        TokenAuthMethod::kClientSecretBasic);
  CHECK(chooseMethod(TokenAuthMethod::kAuto, {"client_secret_post", "client_secret_basic"}, true,
                     false) == TokenAuthMethod::kClientSecretBasic);
  CHECK(chooseMethod(TokenAuthMethod::kAuto, {"client_secret_post"}, true, false) ==
        TokenAuthMethod::kClientSecretPost);
  CHECK(chooseMethod(TokenAuthMethod::kAuto, {"private_key_jwt"}, false, true) ==
        TokenAuthMethod::kPrivateKeyJwt);
  CHECK(chooseMethod(TokenAuthMethod::kClientSecretPost, {"client_secret_basic"}, true, false) ==
        TokenAuthMethod::kClientSecretPost);
}

TEST_CASE("token responses and token errors") {
  auto ok = parseTokenResponse(R"({"access_token":"abc","token_type":"Bearer","expires_in":3600})");
  REQUIRE(ok.ok());
  CHECK(ok->accessToken.reveal() == "abc");
  CHECK(ok->expiresInSeconds == 3600);
  CHECK(ok->scope.empty());  // not said
  auto scoped = parseTokenResponse(R"({"access_token":"abc","scope":"mcp:tools 'x'\nmcp:admin"})");
  REQUIRE(scoped.ok());
  CHECK(scoped->scope == "mcp:tools xmcp:admin");  // scope-token characters only
  CHECK_FALSE(parseTokenResponse(R"({"token_type":"Bearer"})").ok());
  CHECK_FALSE(parseTokenResponse(R"({"access_token":"abc","token_type":"mac"})").ok());
  CHECK(parseTokenResponse(R"({"access_token":"abc"})")->expiresInSeconds == std::nullopt);
  CHECK(tokenErrorSummary(R"({"error":"invalid_client","error_description":"bad secret"})") ==
        "invalid_client: bad secret");
  CHECK(tokenErrorSummary("<html>") == "");
  CHECK(formEncode("a b:c/d~") == "a+b%3Ac%2Fd~");
}

TEST_CASE("a token endpoint's echo is redacted before its summary is cut to length") {
  // The secret straddles the 200-byte cut of error_description: a cut first would leave its start.
  const std::string secret = "SECRETabcdef0123456789";
  mcphd::Redactor r;
  r.add(secret);
  std::string description(190, 'x');
  description += secret;
  std::string body = R"({"error":"invalid_client","error_description":")" + description + R"("})";
  std::string summary = tokenErrorSummary(body, r);
  CHECK(summary.find("SECRET") == std::string::npos);
  CHECK(summary.find("[redacted]") != std::string::npos);
  CHECK(summary.rfind("invalid_client: ", 0) == 0);
}
