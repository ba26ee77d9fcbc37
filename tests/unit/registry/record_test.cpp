#include <catch2/catch.hpp>

#include <sodium.h>

#include "auth/credentials.hpp"
#include "registry/record.hpp"

using namespace mcphd;
using namespace mcphd::registry;

namespace {

auth::KeyRing keys() {
  REQUIRE(sodium_init() >= 0);
  auth::KeyRing k;
  REQUIRE(k.addKey("k1", auth::generateKeyBase64()).ok());
  REQUIRE(k.setActive("k1").ok());
  return k;
}

std::string seal(const auth::KeyRing& k, const std::string& id, const std::string& json) {
  auto b = k.seal(json, id);
  REQUIRE(b.ok());
  return *b;
}

}  // namespace

TEST_CASE("an oauth2 record decrypts into a client-credentials spec") {
  auto k = keys();
  RecordFields f = {{"url", "https://inv.example/mcp"},
                    {"name", "Inventory"},
                    {"auth_type", "oauth2"},
                    {"oauth2_flow", "client_credentials"},
                    {"token_url", "https://as.example/token"},
                    {"scopes", "mcp:read mcp:tools"},
                    {"audience", "inv"},
                    {"token_endpoint_auth_method", "client_secret_post"},
                    {"headers", R"({"X-Team":"inv"})"},
                    {"interval", "15s"},
                    {"timeout", "5s"},
                    {"enabled", "true"},
                    {"updated_at", "2026-11-26T10:00:00Z"},
                    {"credentials", seal(k, "inv", R"({"client_id":"cid","client_secret":"sek"})")}};
  ServerSpec s = parseRecord("inv", f, ServerSpec{}, k);
  INFO(s.invalidReason);
  REQUIRE(s.invalidReason.empty());
  CHECK(s.source == Source::kRedis);
  CHECK(s.name == "Inventory");
  CHECK(s.intervalMs == 15'000);
  CHECK(s.timeoutMs == 5'000);
  CHECK(s.headers.at(0).second == "inv");
  CHECK(s.auth.type == AuthType::kOAuth2);
  CHECK(s.auth.oauth2.clientId == "cid");
  CHECK(s.auth.oauth2.clientSecret.reveal() == "sek");
  CHECK(s.auth.oauth2.method == TokenAuthMethod::kClientSecretPost);
  CHECK(s.auth.oauth2.scopes == "mcp:read mcp:tools");
}

TEST_CASE("an unusable record becomes a spec with a reason and no secret") {
  auto k = keys();
  const std::string good = seal(k, "a", R"({"bearer_token":"tok"})");
  auto reason = [&](RecordFields f) {
    ServerSpec s = parseRecord("a", f, ServerSpec{}, k);
    CHECK(s.auth.type == AuthType::kNone);
    CHECK(s.auth.token.empty());
    return s.invalidReason;
  };
  CHECK(reason({{"auth_type", "bearer"}, {"credentials", good}}) == "record a: url: is required");
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "bearer"}}) ==
        "record a: credentials: auth_type bearer needs a credentials envelope");
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "bearer"}, {"credentials", "tok"}})
            .find("not a v1 envelope") != std::string::npos);
  // A blob written for another server does not decrypt here.
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "bearer"}, {"credentials", seal(k, "b", R"({"bearer_token":"t"})")}})
            .find("another server id") != std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "basic"}, {"credentials", good}}) ==
        "record a: credentials: auth_type basic needs a username without ':'");
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "magic"}}).find("auth_type: 'magic'") != std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"interval", "5s"}, {"timeout", "5s"}}) ==
        "record a: timeout: must be shorter than interval");
  CHECK(reason({{"url", "http://x/mcp"}, {"interval", "soon"}}).find("interval: 'soon' is not a duration") !=
        std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"headers", "[1]"}}).find("headers:") != std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"enabled", "maybe"}}) == "record a: enabled: must be true or false");
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "oauth2"}, {"credentials", seal(k, "a", R"({"client_id":"c"})")}}) ==
        "record a: credentials: oauth2 client_credentials needs client_secret or private_key_pem");
  // Whoever writes to Redis cannot make the daemon start a program.
  CHECK(reason({{"transport", "stdio"}, {"command", "sh"}}).find(
            "stdio servers can only be declared in the daemon's config file") != std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"command", "sh"}}).find("cannot start processes") !=
        std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"watch_tools", "yes"}}) ==
        "record a: watch_tools: must be true or false");
  CHECK(parseRecord("a", {{"url", "http://x/mcp"}, {"watch_tools", "true"}}, ServerSpec{}, k)
            .watchTools);
  auth::KeyRing none;
  CHECK(parseRecord("a", {{"url", "http://x/mcp"}, {"auth_type", "bearer"}, {"credentials", good}}, ServerSpec{}, none)
            .invalidReason == "record a: credentials: the daemon has no secrets.keys to decrypt them with");
}
