#include "auth/authorization_code.hpp"

#include <simdjson.h>
#include <sodium.h>

#include <catch2/catch.hpp>
#include <set>

using namespace mcphd;
using namespace mcphd::auth;

TEST_CASE("PKCE: the S256 challenge of RFC 7636 appendix B, and fresh verifiers of 43 characters") {
  CHECK(pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  REQUIRE(sodium_init() >= 0);
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    Pkce p = makePkce();
    const std::string v(p.verifier.reveal());
    CHECK(v.size() == 43);
    CHECK(v.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    CHECK(p.challenge == pkceChallenge(v));
    seen.insert(v);
    seen.insert(randomState());
  }
  CHECK(seen.size() == 40);  // none twice
}

TEST_CASE(
    "the authorization URL carries every parameter, encoded, and keeps the endpoint's query") {
  AuthorizationRequest r;
  r.authorizationEndpoint = "https://as.example/authorize?tenant=a";
  r.clientId = "client 1";
  r.redirectUri = "http://127.0.0.1:4711/callback";
  r.scope = "read offline_access";
  r.state = "st&te";
  r.codeChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  r.resource = "https://mcp.example/mcp";
  CHECK(authorizationUrl(r) ==
        "https://as.example/authorize?tenant=a&response_type=code&client_id=client+1"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fcallback&scope=read+offline_access"
        "&state=st%26te&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example%2Fmcp");
  r.scope.clear();
  r.authorizationEndpoint = "https://as.example/authorize";
  CHECK(authorizationUrl(r).find("scope=") == std::string::npos);
  CHECK(authorizationUrl(r).rfind("https://as.example/authorize?response_type=code&", 0) == 0);
}

TEST_CASE("scopes: given, else the challenge's, else the resource's, offline_access when offered") {
  const std::vector<std::string> resource = {"mcp:read", "mcp:write"};
  const std::vector<std::string> server = {"openid", "mcp:read", "offline_access"};
  CHECK(chooseScopes("mine", "from-challenge", resource, server) == "mine offline_access");
  CHECK(chooseScopes("", "from-challenge other", resource, server) ==
        "from-challenge other offline_access");
  CHECK(chooseScopes("", "", resource, server) == "mcp:read mcp:write offline_access");
  CHECK(chooseScopes("", "", {}, server) == "offline_access");
  CHECK(chooseScopes("", "", {}, {}).empty());
  CHECK(chooseScopes("a offline_access a", "", resource, server) == "a offline_access");
  CHECK(chooseScopes("", "x", resource, {"mcp:read"}) == "x");  // not offered: not asked for
  CHECK(unionScopes("a b", "b c  a d") == "a b c d");
  CHECK(unionScopes("", "z") == "z");
}

TEST_CASE("dynamic client registration: a public client for the loopback redirect") {
  const std::string req =
      registrationRequestJson("http://127.0.0.1:1/callback", "mcp-healthd \"quoted\"");
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  REQUIRE(parser.parse(req).get(e) == simdjson::SUCCESS);
  std::string_view s;
  CHECK(e["redirect_uris"].at(0).get(s) == simdjson::SUCCESS);
  CHECK(s == "http://127.0.0.1:1/callback");
  CHECK(e["token_endpoint_auth_method"].get(s) == simdjson::SUCCESS);
  CHECK(s == "none");
  CHECK(e["client_name"].get(s) == simdjson::SUCCESS);
  CHECK(s == "mcp-healthd \"quoted\"");
  CHECK(e["scope"].error() == simdjson::NO_SUCH_FIELD);  // never bound to one scope
  CHECK(e["application_type"].get(s) == simdjson::SUCCESS);
  CHECK(s == "native");
  CHECK(e["grant_types"].at(1).get(s) == simdjson::SUCCESS);
  CHECK(s == "refresh_token");

  auto r = parseRegistrationResponse(
      R"({"client_id":"abc","client_secret":"s3cret","token_endpoint_auth_method":"client_secret_basic"})");
  REQUIRE(r);
  CHECK(r->clientId == "abc");
  CHECK(r->clientSecret.reveal() == "s3cret");
  CHECK(r->authMethod == "client_secret_basic");
  auto pub = parseRegistrationResponse(R"({"client_id":"p"})");
  REQUIRE(pub);
  CHECK(pub->clientSecret.empty());
  CHECK_FALSE(parseRegistrationResponse(R"({"client_secret":"s3cret"})"));
  CHECK_FALSE(parseRegistrationResponse("not json"));
  auto bad = parseRegistrationResponse(R"({"client_id":"","client_secret":"s3cret"})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("s3cret") == std::string::npos);
}

TEST_CASE("the redirect: code and state decoded, an error passed on, anything else refused") {
  auto r =
      parseRedirectTarget("/callback?state=a%2Bb+c&code=x%3Dy&iss=https%3A%2F%2Fas", "/callback");
  REQUIRE(r);
  CHECK(r->code.reveal() == "x=y");
  CHECK(r->state == "a+b c");
  CHECK(r->error.empty());
  auto denied = parseRedirectTarget(
      "/callback?error=access_denied&error_description=The+user+said+no&state=s", "/callback");
  REQUIRE(denied);
  CHECK(denied->error == "access_denied");
  CHECK(denied->errorDescription == "The user said no");
  CHECK(denied->code.empty());
  CHECK_FALSE(parseRedirectTarget("/favicon.ico", "/callback"));
  CHECK_FALSE(parseRedirectTarget("/callback", "/callback"));
  CHECK_FALSE(parseRedirectTarget("/callback?state=s", "/callback"));
  CHECK_FALSE(parseRedirectTarget("/callback?code=%zz&state=s", "/callback"));
  CHECK_FALSE(parseRedirectTarget("/callback?code=%4", "/callback"));
  CHECK_FALSE(parseRedirectTarget("/callbackx?code=a", "/callback"));
}

TEST_CASE(
    "the code exchange: PKCE verifier, redirect URI, resource, the client id of a public client") {
  const std::string body = codeExchangeBody(Secret("c/1"), "http://127.0.0.1:9/callback",
                                            Secret("ver"), "cli", true, "https://m/mcp");
  CHECK(body ==
        "grant_type=authorization_code&code=c%2F1&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2F"
        "callback&code_verifier=ver&client_id=cli&resource=https%3A%2F%2Fm%2Fmcp");
  CHECK(codeExchangeBody(Secret("c"), "r", Secret("v"), "cli", false, "").find("client_id") ==
        std::string::npos);
}

TEST_CASE(
    "scopeTokens keeps scope-token characters and spaces, no quotes, backslashes or controls") {
  CHECK(auth::scopeTokens("mcp:read a'b \"c\\d\n\te\x7f\xc3\xa9 x$(y)`z`") ==
        "mcp:read ab cde x$(y)`z`");
  CHECK(auth::scopeTokens("").empty());
}
