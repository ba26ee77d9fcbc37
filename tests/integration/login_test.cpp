#include <curl/curl.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 30s;

// Plays the user's browser: fetches `url`, follows every redirect with its cookies (the
// authorization server's login and consent complete by themselves) and lands on the redirect
// URI. The final URL and the body of the last answer.
std::pair<std::string, std::string> browse(const std::string& url) {
  CURL* c = curl_easy_init();
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 20L);
  curl_easy_setopt(c, CURLOPT_COOKIEFILE, "");  // the cookie engine, in memory
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(c);
  char* last = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &last);
  std::string where = last != nullptr ? last : "";
  curl_easy_cleanup(c);
  return {where, body};
}

std::string httpGet(int port, const std::string& target, const char* method = "GET") {
  return httpRequest(port, method, target).second;
}

// The one line login prints for the user, once it is there.
std::string authorizationUrl(const std::string& logPath) {
  std::string url;
  waitUntil(
      [&] {
        static const std::regex line("Open this URL to authorize: (\\S+)");
        std::smatch m;
        const std::string log = readFile(logPath);
        if (std::regex_search(log, m, line)) {
          url = m[1];
          return true;
        }
        return false;
      },
      30s);
  return url;
}

std::string field(const std::string& json, const char* key) {
  Json j(json);
  std::string_view v;
  return j.ok && j.root[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

}  // namespace

TEST_CASE(
    "login: mcp-healthctl login against oidc-provider (authorization code, PKCE, DCR, refresh "
    "tokens) makes the server healthy, the daemon refreshes past the token's expiry, and no "
    "token reaches Redis, the events or the logs") {
  TempDir dir;
  RedisServer redis(dir);
  const int asPort = freePort();
  const int mcpPort = freePort();
  Process peers({"node", std::string(MCPHD_PEERS_DIR) + "/oauth-code-mcp.mjs"},
                {{"AS_PORT", std::to_string(asPort)},
                 {"MCP_PORT", std::to_string(mcpPort)},
                 {"ACCESS_TTL", "2"}},
                dir.file("peers.log"));
  REQUIRE(waitForPort(asPort, 30s));
  REQUIRE(waitForPort(mcpPort, 30s));
  const std::string mcpUrl = "http://127.0.0.1:" + std::to_string(mcpPort) + "/mcp";
  REQUIRE(runCtl(dir, {"keygen"}, "k1.key") == 0);
  DaemonConfig cfg;
  cfg.redisUrl = redis.url();
  cfg.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  // A check every 2 s, each refreshing the 2 s access token (the cache keeps tokens until 60 s
  // before their expiry); 1.5 s per check leaves room for a loaded machine.
  cfg.defaults = {"interval: 2s", "timeout: 1500ms", "jitter: 0%"};
  // Everything written to Redis, to look for tokens in it at the end.
  Process monitor({"redis-cli", "-p", std::to_string(redis.port()), "MONITOR"}, {},
                  dir.file("monitor.log"));
  TestDaemon daemon(dir, cfg);
  INFO("daemon log: " << daemon.logPath());
  Subscriber events(redis.port(), {"mcp:health", "mcp:tools"});
  std::vector<std::string> seenEvents;  // every event seen, to look for tokens in at the end
  // The next message of code1 whose `key` is `value`.
  auto next = [&](const char* key, const char* value) {
    return events.waitFor(
        [&](const Message& m) {
          seenEvents.push_back(m.payload);
          return field(m.payload, "server_id") == "code1" && field(m.payload, key) == value;
        },
        kWait);
  };

  // Registered without a token: auth_required (the token endpoint discovered and bound).
  runCtl(dir,
         {"--config", daemon.configPath(), "add", "code1", "--url", mcpUrl, "--auth", "oauth2",
          "--oauth2-flow", "authorization_code", "--json"},
         "add.out");
  auto required = next("status", "auth_required");
  REQUIRE(required);

  // login: the URL on stderr, the browser comes back, the refresh token is sealed, the daemon
  // checks at once and the server is healthy with its tools.
  Process login({MCPHD_HEALTHCTL_PATH, "--config", daemon.configPath(), "login", "code1", "--json",
                 "--wait", "20s"},
                {}, dir.file("login.out"));
  const std::string url = authorizationUrl(dir.file("login.out"));
  INFO("login output: " << readFile(dir.file("login.out")));
  REQUIRE(url.rfind("http://127.0.0.1:" + std::to_string(asPort) + "/auth?", 0) == 0);
  CHECK(url.find("code_challenge_method=S256") != std::string::npos);
  CHECK(url.find("resource=" + std::string("http%3A%2F%2F127.0.0.1%3A") + std::to_string(mcpPort) +
                 "%2Fmcp") != std::string::npos);
  CHECK(url.find("offline_access") != std::string::npos);
  const auto [landed, page] = browse(url);
  CHECK(landed.rfind("http://127.0.0.1:", 0) == 0);
  CHECK(landed.find("/callback?code=") != std::string::npos);
  CHECK(page.find("authorized") != std::string::npos);
  auto rc = login.wait(30s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  const std::string out = readFile(dir.file("login.out"));
  CHECK(out.find("\"status\":\"healthy\"") != std::string::npos);
  CHECK(out.find("registered client") != std::string::npos);

  // Healthy with both tools, and still healthy over several access-token lifetimes (2 s, so
  // each check refreshes):
  // the daemon refreshed with the rotated tokens it wrote back.
  auto healthy = next("status", "healthy");
  REQUIRE(healthy);
  {
    Json h(healthy->payload);
    int64_t tools = 0;
    CHECK(h.root["tool_count"].get(tools) == simdjson::SUCCESS);
    CHECK(tools == 2);  // add, whoami
  }
  std::this_thread::sleep_for(7s);
  {
    Json stats(httpGet(mcpPort, "/admin/stats"));
    REQUIRE(stats.ok);
    int64_t refreshes = 0;
    CHECK(stats.root["grants"]["refresh_token"].get(refreshes) == simdjson::SUCCESS);
    CHECK(refreshes >= 2);
    int64_t codes = 0;
    CHECK(stats.root["grants"]["authorization_code"].get(codes) == simdjson::SUCCESS);
    CHECK(codes == 1);
  }
  auto stillHealthy = next("type", "health");
  REQUIRE(stillHealthy);
  CHECK(field(stillHealthy->payload, "status") == "healthy");

  // The grant is revoked: the refresh token is refused, and the server is auth_required with the
  // command that fixes it.
  REQUIRE(httpRequest(mcpPort, "POST", "/admin/revoke").first == 200);
  auto revoked = next("status", "auth_required");
  REQUIRE(revoked);
  Json j(revoked->payload);
  std::string_view message;
  REQUIRE(j.root["error"]["message"].get(message) == simdjson::SUCCESS);
  CHECK(message.find("mcp-healthctl login code1") != std::string::npos);

  // No token or secret in clear: not in Redis, not in the events, not in the logs.
  Json stats(httpGet(mcpPort, "/admin/stats"));
  REQUIRE(stats.ok);
  simdjson::dom::array issued;
  REQUIRE(stats.root["issued"].get(issued) == simdjson::SUCCESS);
  REQUIRE(issued.size() >= 4);
  monitor.stop(SIGTERM, 5s);
  const std::string dump = readFile(dir.file("monitor.log"));
  CHECK(dump.find("mcp:server:code1") != std::string::npos);  // the capture worked
  const std::string logs =
      readFile(daemon.logPath()) + readFile(dir.file("login.out")) + readFile(dir.file("add.out"));
  for (auto t : issued) {
    std::string_view token;
    REQUIRE(t.get(token) == simdjson::SUCCESS);
    // JWT access tokens: their signature part is what would be secret; refresh tokens: whole.
    const std::string tail(token.substr(token.size() > 40 ? token.size() - 40 : 0));
    CHECK(dump.find(tail) == std::string::npos);
    CHECK(logs.find(tail) == std::string::npos);
    for (const auto& e : seenEvents) {
      CHECK(e.find(tail) == std::string::npos);
    }
  }
}
