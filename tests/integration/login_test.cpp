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

// The `n`th line login prints for the user (1: the first), once it is there.
std::string authorizationUrl(const std::string& logPath, int n = 1) {
  std::string url;
  waitUntil(
      [&] {
        static const std::regex line("Open this URL to authorize: (\\S+)");
        const std::string log = readFile(logPath);
        int seen = 0;
        for (auto it = std::sregex_iterator(log.begin(), log.end(), line);
             it != std::sregex_iterator(); ++it) {
          if (++seen == n) {
            url = (*it)[1];
            return true;
          }
        }
        return false;
      },
      30s);
  return url;
}

// The value of `name` in the query of `url` (as it stands there: state and ports need no decoding).
std::string queryValue(const std::string& url, const std::string& name) {
  const std::regex re("[?&]" + name + "=([^&]*)");
  std::smatch m;
  return std::regex_search(url, m, re) ? std::string(m[1]) : std::string();
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

  // Logging in again, as the message says: the client registered the first time is used again,
  // from another loopback port (RFC 8252 §7.3: any port of a loopback redirect URI), and the
  // server is healthy again.
  Process again({MCPHD_HEALTHCTL_PATH, "--config", daemon.configPath(), "login", "code1", "--json",
                 "--wait", "20s"},
                {}, dir.file("login2.out"));
  const std::string url2 = authorizationUrl(dir.file("login2.out"));
  CHECK(queryValue(url2, "client_id") == queryValue(url, "client_id"));
  CHECK(queryValue(url2, "redirect_uri") != queryValue(url, "redirect_uri"));
  browse(url2);
  rc = again.wait(30s);
  REQUIRE(rc);
  const std::string out2 = readFile(dir.file("login2.out"));
  INFO("second login: " << out2);
  CHECK(*rc == 0);
  CHECK(out2.find("\"status\":\"healthy\"") != std::string::npos);
  CHECK(out2.find("registered client") == std::string::npos);
}

namespace {

// probe's flags for the interactive flow against `url`, then `extra`.
std::vector<std::string> codeProbe(const std::string& url, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{
      "probe", url, "--auth", "oauth2", "--oauth2-flow", "authorization_code"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace

TEST_CASE(
    "login: the interactive flow refuses an authorization server it must not use before any "
    "request to it or any URL is printed: no S256, an http:// or fragment authorization "
    "endpoint, no registration endpoint, a registered client id with spaces, the 2025-03-26 "
    "fallback with a client secret or for a server that answers 5xx") {
  TempDir dir;
  const int port = freePort();
  Process peer({"node", std::string(MCPHD_PEERS_DIR) + "/oauth-meta-mcp.mjs"},
               {{"MCP_PORT", std::to_string(port)}}, dir.file("peer.log"));
  REQUIRE(waitForPort(port, 30s));
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  writeFile(dir.file("secret"), "s3cret-value-1\n");
  struct Case {
    const char* name;
    std::vector<std::string> extra;
    const char* says;
    const char* neverAsked;  // a request that must not have been made ("" none)
  };
  const std::vector<Case> cases = {
      {"nos256", {}, "does not list S256 in code_challenge_methods_supported", "/nos256/register"},
      {"plainhttp",
       {},
       "is neither https:// nor on a loopback host: not used",
       "/plainhttp/register"},
      {"fragment",
       {},
       "holds spaces, control characters or a fragment: not used",
       "/fragment/register"},
      {"noreg", {}, "offers no dynamic client registration (no registration_endpoint)", ""},
      {"badclient", {}, "the client_id issued holds characters outside printable ASCII", ""},
      {"legacy",
       {"--client-id", "c1", "--client-secret-file", dir.file("secret")},
       "a client secret is only sent to a token endpoint that metadata names",
       "\"GET /.well-known/oauth-authorization-server\""},
      {"broken", {}, "OAuth discovery for ", "\"GET /.well-known/oauth-authorization-server\""},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const std::string out = std::string(c.name) + ".out";
    const int rc = runCtl(dir, codeProbe(base + "/" + c.name + "/mcp", c.extra), out);
    const std::string printed = readFile(dir.file(out));
    INFO("printed: " << printed);
    CHECK(rc != 0);
    CHECK(printed.find(c.says) != std::string::npos);
    CHECK(printed.find("Open this URL") == std::string::npos);
    CHECK(printed.find("s3cret-value-1") == std::string::npos);
    const std::string asked = httpGet(port, "/admin/requests");
    INFO("requests: " << asked);
    CHECK(asked.find("/authorize") == std::string::npos);
    CHECK(asked.find("/token") == std::string::npos);
    if (*c.neverAsked != '\0') {
      CHECK(asked.find(c.neverAsked) == std::string::npos);
    }
  }
}

namespace {

// The loopback port login listens on for the redirect, from the URL it printed.
int redirectPort(const std::string& url) {
  static const std::regex re("redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%3A([0-9]+)%2Fcallback");
  std::smatch m;
  return std::regex_search(url, m, re) ? std::stoi(m[1]) : 0;
}

}  // namespace

TEST_CASE(
    "login: a redirect with another state is refused and the real one still completes, an "
    "error redirect, --timeout and a record changed meanwhile end the login with nothing "
    "stored, and a record bound to another token_url is refused") {
  TempDir dir;
  RedisServer redis(dir);
  const int asPort = freePort();
  const int mcpPort = freePort();
  Process peers({"node", std::string(MCPHD_PEERS_DIR) + "/oauth-code-mcp.mjs"},
                {{"AS_PORT", std::to_string(asPort)}, {"MCP_PORT", std::to_string(mcpPort)}},
                dir.file("peers.log"));
  REQUIRE(waitForPort(asPort, 30s));
  REQUIRE(waitForPort(mcpPort, 30s));
  const std::string mcpUrl = "http://127.0.0.1:" + std::to_string(mcpPort) + "/mcp";
  REQUIRE(runCtl(dir, {"keygen"}, "k1.key") == 0);
  DaemonConfig cfg;
  cfg.redisUrl = redis.url();
  cfg.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  TestDaemon daemon(dir, cfg);
  INFO("daemon log: " << daemon.logPath());
  const std::string config = daemon.configPath();
  // (add exits 1: the server's first check is auth_required)
  runCtl(dir,
         {"--config", config, "add", "code2", "--url", mcpUrl, "--auth", "oauth2", "--oauth2-flow",
          "authorization_code"},
         "add.out");
  REQUIRE(redis.query({"HGET", "mcp:server:code2", "url"}) == mcpUrl);
  auto credentials = [&] { return redis.query({"HGET", "mcp:server:code2", "credentials"}); };
  const auto before = credentials();
  auto startLogin = [&](const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{MCPHD_HEALTHCTL_PATH, "--config", config, "login", "code2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(argv, std::map<std::string, std::string>{}, dir.file(out));
  };

  // Nobody opens the URL: --timeout ends the login, saying so.
  {
    auto login = startLogin("timeout.out", {"--timeout", "1s"});
    auto rc = login->wait(30s);
    REQUIRE(rc);
    CHECK(*rc != 0);
    const std::string out = readFile(dir.file("timeout.out"));
    INFO(out);
    CHECK(out.find("Open this URL to authorize: ") != std::string::npos);
    CHECK(out.find("no answer from the browser within 1 s (--timeout)") != std::string::npos);
  }
  // A redirect with another state (another page's, or forged) is answered 400 and the login
  // goes on; the authorization server's error redirect ends it with its reason.
  {
    auto login = startLogin("denied.out");
    const std::string url = authorizationUrl(dir.file("denied.out"));
    const std::string state = queryValue(url, "state");
    const int port = redirectPort(url);
    REQUIRE(state.size() >= 22);
    REQUIRE(port > 0);
    auto forged = httpRequest(port, "GET", "/callback?code=forged&state=not-" + state);
    CHECK(forged.first == 400);
    CHECK(forged.second.find("state does not match") != std::string::npos);
    CHECK_FALSE(login->wait(1s));  // still waiting for the real answer
    auto denied = httpRequest(
        port, "GET",
        "/callback?error=access_denied&error_description=the+user+said+no&state=" + state);
    CHECK(denied.first == 200);
    auto rc = login->wait(30s);
    REQUIRE(rc);
    CHECK(*rc != 0);
    const std::string out = readFile(dir.file("denied.out"));
    INFO(out);
    CHECK(out.find("the authorization server refused: access_denied: the user said no") !=
          std::string::npos);
  }
  CHECK(credentials() == before);  // nothing stored so far
  // The record changes while the browser is away: the login's write is refused (compare and
  // set), the edit stays, and no token is stored.
  {
    auto login = startLogin("raced.out");
    const std::string url = authorizationUrl(dir.file("raced.out"));
    // (edit exits 1 when its answer is auth_required; before its login, such a record, with an
    // envelope that holds no secret yet, could not be edited at all)
    runCtl(dir, {"--config", config, "edit", "code2", "--name", "Renamed meanwhile"}, "edit.out");
    INFO("edit: " << readFile(dir.file("edit.out")));
    REQUIRE(redis.query({"HGET", "mcp:server:code2", "name"}) == "Renamed meanwhile");
    const auto edited = credentials();  // sealed again by the edit
    const auto [landed, page] = browse(url);
    CHECK(landed.find("/callback?code=") != std::string::npos);
    auto rc = login->wait(30s);
    REQUIRE(rc);
    CHECK(*rc != 0);
    const std::string out = readFile(dir.file("raced.out"));
    INFO(out);
    CHECK(out.find("the record of code2 changed during the login") != std::string::npos);
    CHECK(redis.query({"HGET", "mcp:server:code2", "name"}) == "Renamed meanwhile");
    CHECK(credentials() == edited);
  }
  // Again, a forged redirect first: the real one completes the login.
  {
    auto login = startLogin("ok.out", {"--json", "--wait", "20s"});
    const std::string url = authorizationUrl(dir.file("ok.out"));
    const int port = redirectPort(url);
    REQUIRE(port > 0);
    CHECK(httpRequest(port, "GET", "/callback?code=forged&state=forged").first == 400);
    browse(url);
    auto rc = login->wait(30s);
    REQUIRE(rc);
    const std::string out = readFile(dir.file("ok.out"));
    INFO(out);
    CHECK(*rc == 0);
    CHECK(out.find("\"status\":\"healthy\"") != std::string::npos);
    CHECK(credentials() != before);
  }
  // A record bound to another token endpoint: login refuses before anything is printed.
  runCtl(dir,
         {"--config", config, "add", "code3", "--url", mcpUrl, "--auth", "oauth2", "--oauth2-flow",
          "authorization_code", "--token-url",
          "http://127.0.0.1:" + std::to_string(asPort) + "/elsewhere/token"},
         "add3.out");
  REQUIRE(redis.query({"HGET", "mcp:server:code3", "url"}) == mcpUrl);
  CHECK(runCtl(dir, {"--config", config, "login", "code3", "--timeout", "5s"}, "code3.out") != 0);
  const std::string out3 = readFile(dir.file("code3.out"));
  INFO(out3);
  CHECK(out3.find("the record's token_url is http://127.0.0.1:" + std::to_string(asPort) +
                  "/elsewhere/token, but discovery found") != std::string::npos);
  CHECK(out3.find("Open this URL") == std::string::npos);

  // A Redis writer removes code3's envelope and points it elsewhere: edit does not seal that
  // as it stands without the operator's word (--yes), and says what the record says.
  const std::string elsewhere = "http://127.0.0.1:" + std::to_string(mcpPort) + "/other/mcp";
  REQUIRE(redis.query({"HDEL", "mcp:server:code3", "credentials"}) == "1");
  REQUIRE(redis.query({"HSET", "mcp:server:code3", "url", elsewhere}) == "0");
  CHECK(runCtl(dir, {"--config", config, "edit", "code3", "--name", "x"}, "tampered.out") != 0);
  const std::string tampered = readFile(dir.file("tampered.out"));
  INFO(tampered);
  CHECK(tampered.find("code3: auth_type oauth2 but no credentials envelope") != std::string::npos);
  CHECK(tampered.find("url: " + elsewhere) != std::string::npos);
  CHECK(tampered.find("code3: left as it is") != std::string::npos);
  CHECK_FALSE(redis.query({"HGET", "mcp:server:code3", "credentials"}));
  CHECK_FALSE(redis.query({"HGET", "mcp:server:code3", "name"}));
}

TEST_CASE(
    "login and probe: a server that answers 403 insufficient_scope gets one more authorization "
    "with its scope added, from the same client, and is then healthy with that scope stored") {
  TempDir dir;
  RedisServer redis(dir);
  const int asPort = freePort();
  const int mcpPort = freePort();
  Process peers({"node", std::string(MCPHD_PEERS_DIR) + "/oauth-code-mcp.mjs"},
                {{"AS_PORT", std::to_string(asPort)},
                 {"MCP_PORT", std::to_string(mcpPort)},
                 {"STEP_UP_SCOPE", "mcp:admin"}},
                dir.file("peers.log"));
  REQUIRE(waitForPort(asPort, 30s));
  REQUIRE(waitForPort(mcpPort, 30s));
  const std::string mcpUrl = "http://127.0.0.1:" + std::to_string(mcpPort) + "/mcp";
  auto stat = [&](const char* key) {
    Json stats(httpGet(mcpPort, "/admin/stats"));
    int64_t n = -1;
    if (!stats.ok || stats.root[key].get(n) != simdjson::SUCCESS) {
      return int64_t{-1};
    }
    return n;
  };
  // Both rounds of one command: the URLs it printed (the second asks for the wanted scope too,
  // for the same client: its registration named no scope), each opened by the "browser".
  auto twoRounds = [&](const std::string& out) {
    const std::string first = authorizationUrl(dir.file(out), 1);
    browse(first);
    const std::string second = authorizationUrl(dir.file(out), 2);
    REQUIRE(!second.empty());
    CHECK(queryValue(first, "scope").find("mcp%3Aadmin") == std::string::npos);
    CHECK(queryValue(second, "scope").find("mcp%3Aadmin") != std::string::npos);
    CHECK(queryValue(second, "scope").find("mcp%3Atools") != std::string::npos);
    CHECK(queryValue(second, "client_id") == queryValue(first, "client_id"));
    browse(second);
  };

  // probe: stores nothing, prints the check.
  Process probe({MCPHD_HEALTHCTL_PATH, "probe", mcpUrl, "--auth", "oauth2", "--oauth2-flow",
                 "authorization_code", "--json"},
                {}, dir.file("probe.out"));
  twoRounds("probe.out");
  auto rc = probe.wait(30s);
  REQUIRE(rc);
  const std::string probed = readFile(dir.file("probe.out"));
  INFO("probe: " << probed);
  CHECK(*rc == 0);
  CHECK(probed.find("the server wants another scope (mcp:tools mcp:admin): authorizing again") !=
        std::string::npos);
  CHECK(probed.find("\"status\":\"healthy\"") != std::string::npos);
  CHECK(stat("registrations") == 1);
  CHECK(stat("mcpInsufficient") == 1);

  // login: the token with the wider scope is stored; the daemon refreshes it and is healthy.
  REQUIRE(runCtl(dir, {"keygen"}, "k1.key") == 0);
  DaemonConfig cfg;
  cfg.redisUrl = redis.url();
  cfg.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  TestDaemon daemon(dir, cfg);
  INFO("daemon log: " << daemon.logPath());
  runCtl(dir,
         {"--config", daemon.configPath(), "add", "code4", "--url", mcpUrl, "--auth", "oauth2",
          "--oauth2-flow", "authorization_code"},
         "add.out");
  REQUIRE(redis.query({"HGET", "mcp:server:code4", "url"}) == mcpUrl);
  Process login({MCPHD_HEALTHCTL_PATH, "--config", daemon.configPath(), "login", "code4", "--json",
                 "--wait", "20s"},
                {}, dir.file("login.out"));
  twoRounds("login.out");
  rc = login.wait(30s);
  REQUIRE(rc);
  const std::string out = readFile(dir.file("login.out"));
  INFO("login: " << out);
  CHECK(*rc == 0);
  CHECK(out.find("the server wants another scope (mcp:tools mcp:admin): authorizing again") !=
        std::string::npos);
  CHECK(out.find("\"status\":\"healthy\"") != std::string::npos);
  CHECK(stat("registrations") == 2);  // one per command
  CHECK(stat("mcpInsufficient") == 2);
  // The daemon's refreshes ask for all that was authorized, not the first round's scope only.
  const auto scopes = redis.query({"HGET", "mcp:server:code4", "scopes"});
  REQUIRE(scopes);
  CHECK(scopes->find("mcp:admin") != std::string::npos);
  CHECK(scopes->find("mcp:tools") != std::string::npos);
}
