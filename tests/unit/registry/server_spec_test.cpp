#include "registry/server_spec.hpp"

#include <catch2/catch.hpp>

using namespace mcphd;
using namespace mcphd::registry;

namespace {

ServerSpec spec() {
  ServerSpec s;
  s.id = "a";
  s.url = "https://mcp.example.com/mcp";
  s.auth.type = AuthType::kBearer;
  s.auth.token = Secret("token-one");
  return s;
}

}  // namespace

TEST_CASE("the settings digest tells settings apart and never depends on a secret's value") {
  const std::string base = settingsDigest(spec());
  CHECK(base.size() == 64);
  CHECK(settingsDigest(spec()) == base);

  auto url = spec();
  url.url = "https://mcp.example.com/other";
  auto interval = spec();
  interval.intervalMs = 31'000;
  auto headers = spec();
  headers.headers = {{"X-Team", "a"}};
  auto moved = spec();  // the same characters split differently between two fields
  moved.headers = {{"X-Teama", ""}};
  auto noToken = spec();
  noToken.auth.token = Secret();
  for (const auto& other : {url, interval, headers, noToken}) {
    CHECK(settingsDigest(other) != base);
  }
  CHECK(settingsDigest(moved) != settingsDigest(headers));

  // Another token, same settings: the digest (announced in Redis) says nothing about it.
  auto token = spec();
  token.auth.token = Secret("token-two");
  CHECK(settingsDigest(token) == base);
  auto env = spec();
  env.env = {{"API_KEY", Secret("one")}};
  auto env2 = spec();
  env2.env = {{"API_KEY", Secret("two")}};
  CHECK(settingsDigest(env) == settingsDigest(env2));
  CHECK(settingsDigest(env) != base);
}
