#include "registry/validate.hpp"

#include <catch2/catch.hpp>

#include "auth/key_ring.hpp"
#include "config/config.hpp"
#include "registry/record.hpp"

using namespace mcphd;
using namespace mcphd::registry;

namespace {

ServerSpec good() {
  ServerSpec s;
  s.id = "a";
  s.url = "http://x/mcp";
  s.intervalMs = 30'000;
  s.timeoutMs = 10'000;
  return s;
}

std::string fieldOf(const ServerSpec& s) {
  auto e = validateServer(s);
  return e ? e->field : "";
}

}  // namespace

TEST_CASE("the validator: each rule on a server's settings names its field") {
  CHECK_FALSE(validateServer(good()));
  ServerSpec s = good();
  s.id = "a b";
  CHECK(fieldOf(s) == "id");
  s = good();
  s.url = "ftp://x/mcp";
  CHECK(fieldOf(s) == "url");
  s.url = "";
  CHECK(fieldOf(s) == "url");
  s = good();
  s.transport = Transport::kStdio;
  s.url = "";
  CHECK(fieldOf(s) == "command");
  s.command = "node";
  CHECK_FALSE(validateServer(s));
  s = good();
  s.headers = {{"X Bad", "v"}};
  CHECK(fieldOf(s) == "headers");
  s.headers = {{"X-Ok", "line\r\nInjected: yes"}};
  CHECK(fieldOf(s) == "headers");
  s = good();
  s.auth.headers.emplace_back("Bad:Name", Secret("v"));
  CHECK(fieldOf(s) == "auth.headers");
  s = good();
  s.auth.type = AuthType::kOAuth2;
  s.auth.oauth2.tokenUrl = "file:///etc/passwd";
  CHECK(fieldOf(s) == "token_url");
  s = good();
  s.timeoutMs = s.intervalMs;
  CHECK(fieldOf(s) == "timeout");
  s = good();
  s.maxBackoffMs = s.unhealthyIntervalMs - 1;
  CHECK(fieldOf(s) == "max_backoff");
  s = good();
  s.maxBody = 100;
  CHECK(fieldOf(s) == "max_body");
}

TEST_CASE("the config file and a Redis record break a rule in the same words") {
  auto cfg = config::loadString(
      "servers:\n  - id: a\n    url: http://x/mcp\n    headers: {\"X-A\": \"1\"}\n"
      "    interval: 5s\n    timeout: 5s\n",
      "test.yaml");
  REQUIRE_FALSE(cfg);
  auth::KeyRing none;
  ServerSpec defaults;
  ServerSpec r = parseRecord("a", {{"url", "http://x/mcp"}, {"interval", "5s"}, {"timeout", "5s"}},
                             defaults, none);
  const std::string rule = "must be shorter than interval (timeout 5000 ms, interval 5000 ms)";
  CHECK(cfg.error().message == "test.yaml:6: servers[0].timeout: " + rule);
  CHECK(r.invalidReason == "record a: timeout: " + rule);
  // Header names: one rule for both.
  auto badHeader = config::loadString(
      "servers:\n  - id: a\n    url: http://x/mcp\n    headers: {\"X Bad\": \"1\"}\n", "test.yaml");
  REQUIRE_FALSE(badHeader);
  CHECK(badHeader.error().message.find("'X Bad' is not a valid header name") != std::string::npos);
  ServerSpec h =
      parseRecord("a", {{"url", "http://x/mcp"}, {"headers", R"({"X Bad":"1"})"}}, defaults, none);
  CHECK(h.invalidReason == "record a: headers: 'X Bad' is not a valid header name");
}
