#include "auth/oauth2_provider.hpp"

#include <catch2/catch.hpp>

#include "loop/sim_loop.hpp"
#include "mcp/fake_http.hpp"

using namespace mcphd;
using namespace mcphd::auth;
using mcphd::testing::FakeHttp;

namespace {

registry::ServerSpec oauthServer(const std::string& tokenUrl = "http://as/token") {
  registry::ServerSpec s;
  s.id = "inv";
  s.url = "http://mcp/mcp";
  s.auth.type = registry::AuthType::kOAuth2;
  s.auth.oauth2.tokenUrl = tokenUrl;
  s.auth.oauth2.clientId = "client";
  s.auth.oauth2.clientSecret = Secret("s3cret");
  return s;
}

struct Got {
  std::optional<Result<std::vector<std::string>>> r;
  std::function<void(Result<std::vector<std::string>>)> cb() {
    return [this](Result<std::vector<std::string>> x) { r = std::move(x); };
  }
};

}  // namespace

TEST_CASE(
    "one token request serves every check that waits for it, until it expires minus the skew") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock, 60'000);
  Got a, b;
  auto ha = p.authorize(oauthServer(), a.cb());
  auto hb = p.authorize(oauthServer(), b.cb());
  REQUIRE(http.sent.size() == 1);  // single flight
  const auto& req = http.sent[0]->request;
  CHECK(req.url == "http://as/token");
  CHECK(req.body == "grant_type=client_credentials&resource=http%3A%2F%2Fmcp%2Fmcp");
  CHECK(http.hasHeader(0, "Authorization: Basic Y2xpZW50OnMzY3JldA=="));  // client:s3cret
  http.answer(0, 200, "application/json",
              R"({"access_token":"tok-1","token_type":"Bearer","expires_in":3600})");
  REQUIRE(a.r);
  REQUIRE(b.r);
  CHECK(a.r->value() == std::vector<std::string>{"Authorization: Bearer tok-1"});
  CHECK(b.r->value() == a.r->value());
  // Cached: no new request until 3600 s - 60 s.
  clock.advance(3'539'000);
  Got c;
  p.authorize(oauthServer(), c.cb());
  CHECK(http.sent.size() == 1);
  REQUIRE(c.r);
  clock.advance(1'000);
  Got d;
  auto hd = p.authorize(oauthServer(), d.cb());
  CHECK(http.sent.size() == 2);
  CHECK(p.tokenRequests() == 2);
}

TEST_CASE("a token without expires_in lives 300 s, a rejected one is dropped at once") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock, 60'000);
  Got a;
  auto h = p.authorize(oauthServer(), a.cb());
  http.answer(0, 200, "application/json", R"({"access_token":"tok"})");
  clock.advance(239'999);
  Got b;
  p.authorize(oauthServer(), b.cb());
  CHECK(http.sent.size() == 1);
  p.rejected(oauthServer());
  Got c;
  auto hc = p.authorize(oauthServer(), c.cb());
  CHECK(http.sent.size() == 2);
}

TEST_CASE("token endpoint failures say whether it was unreachable or refused, never the secret") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  Got a;
  auto h = p.authorize(oauthServer(), a.cb());
  http.fail(0, http::Failure::kConnect, "Connection refused");
  REQUIRE(a.r);
  REQUIRE_FALSE(a.r->ok());
  CHECK(a.r->error().message ==
        "token endpoint http://as/token is unreachable: Connection refused");
  Got b;
  auto hb = p.authorize(oauthServer(), b.cb());
  http.answer(1, 401, "application/json",
              R"({"error":"invalid_client","error_description":"client authentication failed"})");
  REQUIRE_FALSE(b.r->ok());
  CHECK(b.r->error().message ==
        "token endpoint http://as/token rejected the request (HTTP 401): invalid_client: client "
        "authentication failed");
  CHECK(b.r->error().message.find("s3cret") == std::string::npos);
}

TEST_CASE("client_secret_post puts the credentials in the body, scope and audience go along") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  auto s = oauthServer();
  s.auth.oauth2.method = registry::TokenAuthMethod::kClientSecretPost;
  s.auth.oauth2.scopes = "mcp:read mcp:tools";
  s.auth.oauth2.audience = "inv";
  Got a;
  auto h = p.authorize(s, a.cb());
  CHECK(http.sent[0]->request.body ==
        "grant_type=client_credentials&resource=http%3A%2F%2Fmcp%2Fmcp&scope=mcp%3Aread+mcp%"
        "3Atools&audience=inv"
        "&client_id=client&client_secret=s3cret");
  CHECK_FALSE(http.hasHeader(0, "Authorization: Basic Y2xpZW50OnMzY3JldA=="));
}

TEST_CASE("without a token_url: no token at first, then discovery from the 401 challenge") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  auto s = oauthServer("");
  Got first;
  p.authorize(s, first.cb());
  REQUIRE(first.r);
  CHECK(first.r->value().empty());
  CHECK(p.retriesOn401(s));
  std::optional<Result<void>> found;
  auto run = p.discover(
      s,
      R"(Bearer resource_metadata="http://mcp/.well-known/oauth-protected-resource/mcp", scope="mcp:basic")",
      [&](Result<void> r) { found = r; });
  REQUIRE(http.sent.size() == 1);
  CHECK(http.sent[0]->request.url == "http://mcp/.well-known/oauth-protected-resource/mcp");
  http.answer(0, 200, "application/json",
              R"({"resource":"http://mcp/mcp","authorization_servers":["http://as/tenant"]})");
  REQUIRE(http.sent.size() == 2);
  CHECK(http.sent[1]->request.url == "http://as/.well-known/oauth-authorization-server/tenant");
  http.answer(1, 404, "text/plain", "no");
  CHECK(http.sent[2]->request.url == "http://as/.well-known/openid-configuration/tenant");
  http.answer(
      2, 200, "application/json",
      R"({"issuer":"http://as/tenant","token_endpoint":"https://as/tenant/token","token_endpoint_auth_methods_supported":["client_secret_post"]})");
  REQUIRE(found);
  REQUIRE(found->ok());
  Got second;
  auto h = p.authorize(s, second.cb());
  REQUIRE(http.sent.size() == 4);
  CHECK(http.sent[3]->request.url == "https://as/tenant/token");
  CHECK(http.sent[3]->request.body.find("&scope=mcp%3Abasic") != std::string::npos);
  CHECK(http.sent[3]->request.body.find("&client_secret=s3cret") != std::string::npos);
}

TEST_CASE("discovery refuses metadata for another resource") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  std::optional<Result<void>> found;
  auto run = p.discover(oauthServer(""), "Bearer", [&](Result<void> r) { found = r; });
  CHECK(http.sent[0]->request.url == "http://mcp/.well-known/oauth-protected-resource/mcp");
  http.answer(
      0, 200, "application/json",
      R"({"resource":"https://evil.example.com/mcp","authorization_servers":["http://as"]})");
  REQUIRE(found);
  REQUIRE_FALSE(found->ok());
  CHECK(found->error().message.find("refusing to authorize") != std::string::npos);
  CHECK(http.sent.size() == 1);
}

TEST_CASE(
    "authorization_code servers refresh their token, keep a rotated refresh token and stop on "
    "invalid_grant") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  auto s = oauthServer();
  s.auth.oauth2.flow = registry::OAuth2Flow::kAuthorizationCode;
  s.auth.oauth2.refreshToken = Secret("rt-1");
  std::vector<std::string> rotated;
  p.onRefreshTokenRotated(
      [&](const registry::ServerSpec&, const Secret& t) { rotated.emplace_back(t.reveal()); });
  CHECK_FALSE(p.needsAuthorization(s));
  Got a;
  auto h = p.authorize(s, a.cb());
  CHECK(http.sent[0]->request.body ==
        "grant_type=refresh_token&refresh_token=rt-1&resource=http%3A%2F%2Fmcp%2Fmcp");
  http.answer(0, 200, "application/json",
              R"({"access_token":"at-1","refresh_token":"rt-2","expires_in":60})");
  CHECK(a.r->value() == std::vector<std::string>{"Authorization: Bearer at-1"});
  CHECK(rotated == std::vector<std::string>{"rt-2"});
  // The next refresh uses the rotated token, even before the record carries it.
  clock.advance(60'000);
  Got b;
  auto hb = p.authorize(s, b.cb());
  CHECK(http.sent[1]->request.body.find("refresh_token=rt-2") != std::string::npos);
  http.answer(1, 400, "application/json",
              R"({"error":"invalid_grant","error_description":"revoked"})");
  REQUIRE_FALSE(b.r->ok());
  CHECK(b.r->error().message.find(
            "rejected the refresh token (HTTP 400): invalid_grant: revoked") != std::string::npos);
  CHECK(p.needsAuthorization(s));  // until someone stores a new refresh token
}

TEST_CASE("an authorization_code server without a refresh token needs authorization") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  auto s = oauthServer();
  s.auth.oauth2.flow = registry::OAuth2Flow::kAuthorizationCode;
  CHECK(p.needsAuthorization(s));
  CHECK_FALSE(p.needsAuthorization(oauthServer()));
}

namespace {

// Runs discovery for `s` with the given authorization server metadata; the outcome.
Result<void> discoverWith(OAuth2Provider& p, FakeHttp& http, const registry::ServerSpec& s,
                          const std::string& asMetadata) {
  std::optional<Result<void>> found;
  size_t first = http.sent.size();
  auto run = p.discover(s, "Bearer", [&](Result<void> r) { found = r; });
  http.answer(
      first, 200, "application/json",
      R"({"resource":")" + s.url + R"(","authorization_servers":["http://127.0.0.1:9/as"]})");
  REQUIRE(http.sent.size() == first + 2);
  http.answer(first + 1, 200, "application/json", asMetadata);
  REQUIRE(found);
  return *found;
}

}  // namespace

TEST_CASE(
    "discovered metadata must name the issuer it was fetched for, and an https token endpoint") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  auto s = oauthServer("");
  s.url = "http://127.0.0.1:8/mcp";
  // Another issuer (a mix-up): refused, and no token request follows.
  auto mixed = discoverWith(
      p, http, s,
      R"({"issuer":"http://evil.example","token_endpoint":"http://127.0.0.1:9/token"})");
  REQUIRE_FALSE(mixed.ok());
  CHECK(mixed.error().message ==
        "OAuth discovery: the authorization server metadata fetched for issuer "
        "http://127.0.0.1:9/as names issuer 'http://evil.example' (RFC 8414 §3.3: they must be "
        "identical); no token request is made");
  Got a;
  auto ha = p.authorize(s, a.cb());
  REQUIRE(a.r);
  CHECK(a.r->value().empty());  // still no token endpoint known: nothing is sent
  size_t sent = http.sent.size();
  // A missing issuer is a mismatch too.
  CHECK_FALSE(discoverWith(p, http, s, R"({"token_endpoint":"http://127.0.0.1:9/token"})").ok());
  // A plain-http token endpoint on another host is refused; loopback ones are allowed.
  auto plain = discoverWith(
      p, http, s,
      R"({"issuer":"http://127.0.0.1:9/as","token_endpoint":"http://as.example/token"})");
  REQUIRE_FALSE(plain.ok());
  CHECK(plain.error().message.find("is not https://") != std::string::npos);
  CHECK(http.sent.size() == sent + 4);  // only metadata requests
  REQUIRE(discoverWith(
              p, http, s,
              R"({"issuer":"http://127.0.0.1:9/as","token_endpoint":"http://127.0.0.1:9/token"})")
              .ok());
  Got b;
  auto hb = p.authorize(s, b.cb());
  CHECK(http.sent.back()->request.url == "http://127.0.0.1:9/token");
}

TEST_CASE("a discovered token endpoint is forgotten when the server's url changes") {
  loop::SimLoop clock;
  FakeHttp http;
  OAuth2Provider p(http, clock);
  auto s = oauthServer("");
  s.url = "http://127.0.0.1:8/mcp";
  REQUIRE(discoverWith(
              p, http, s,
              R"({"issuer":"http://127.0.0.1:9/as","token_endpoint":"http://127.0.0.1:9/token"})")
              .ok());
  s.url = "http://127.0.0.1:7/mcp";  // re-sealed elsewhere: discovery starts over
  Got a;
  size_t sent = http.sent.size();
  auto ha = p.authorize(s, a.cb());
  REQUIRE(a.r);
  CHECK(a.r->value().empty());
  CHECK(http.sent.size() == sent);
}

TEST_CASE("loopback hosts for the http:// exception") {
  CHECK(hasLoopbackHost("http://localhost:8/x"));
  CHECK(hasLoopbackHost("http://127.0.0.1/x"));
  CHECK(hasLoopbackHost("http://127.255.3.4:80"));
  CHECK(hasLoopbackHost("http://[::1]:9/t"));
  CHECK_FALSE(hasLoopbackHost("http://127.0.0.1.evil.com/t"));
  CHECK_FALSE(hasLoopbackHost("http://localhost.evil.com/t"));
  CHECK_FALSE(hasLoopbackHost("http://127.0.0.1@evil.com/t"));
  CHECK_FALSE(hasLoopbackHost("http://10.0.0.1/t"));
  CHECK_FALSE(hasLoopbackHost("http://[::2]/t"));
}
