#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>

#include <catch2/catch.hpp>
#include <thread>

#include "auth/key_ring.hpp"
#include "harness.hpp"
#include "registry/record.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 30s;

std::string httpCall(const std::string& url, bool post) {
  CURL* c = curl_easy_init();
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  if (post) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  }
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(c);
  curl_easy_cleanup(c);
  return body;
}

int64_t issued(int mcpPort, const char* client) {
  Json j(httpCall("http://127.0.0.1:" + std::to_string(mcpPort) + "/admin/stats", false));
  REQUIRE(j.ok);
  int64_t n = 0;
  return j.root["tokensIssued"][client].get(n) == simdjson::SUCCESS ? n : 0;
}

std::string field(const std::string& json, const char* key) {
  Json j(json);
  std::string_view v;
  return j.ok && j.root[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

}  // namespace

TEST_CASE(
    "OAuth2 client credentials against oidc-provider and an SDK server that accepts only its "
    "tokens") {
  TempDir dir;
  RedisServer redis(dir);
  const int asPort = freePort();
  const int mcpPort = freePort();
  Process peers({"node", std::string(MCPHD_PEERS_DIR) + "/oauth-mcp.mjs"},
                {{"AS_PORT", std::to_string(asPort)},
                 {"MCP_PORT", std::to_string(mcpPort)},
                 {"STATE_DIR", dir.path()}},
                dir.file("peers.log"));
  REQUIRE(waitForPort(asPort, 30s));
  REQUIRE(waitForPort(mcpPort, 30s));
  const std::string mcpUrl = "http://127.0.0.1:" + std::to_string(mcpPort) + "/mcp";
  Json secrets(readFile(dir.file("clients.json")));
  REQUIRE(secrets.ok);
  std::vector<std::string> clientSecrets;
  for (const char* id : {"cc-basic", "cc-post", "cc-short"}) {
    std::string s(std::string_view(secrets.root[id]));
    clientSecrets.push_back(s);
    writeFile(dir.file(std::string(id) + ".secret"), s + "\n");
  }
  REQUIRE(runCtl(dir, {"keygen"}, "k1.key") == 0);
  DaemonConfig cfg;
  cfg.redisUrl = redis.url();
  cfg.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  cfg.defaults = {"interval: 1s", "timeout: 900ms", "jitter: 0%"};
  Process monitor({"redis-cli", "-p", std::to_string(redis.port()), "MONITOR"}, {},
                  dir.file("monitor.log"));
  TestDaemon daemon(dir, cfg, {"--log-level", "debug"});
  const std::string config = daemon.configPath();  // mcp-healthctl reads the same
  Subscriber sub(redis.port(), {"mcp:health", "mcp:tools"});
  INFO("logs in " << dir.path());

  // Registered with one command each, discovered, authorized and healthy within 2 s.
  struct Case {
    const char* id;
    std::vector<std::string> auth;
  };
  const std::vector<Case> cases = {
      {"basic", {"--client-id", "cc-basic", "--client-secret-file", dir.file("cc-basic.secret")}},
      {"post",
       {"--client-id", "cc-post", "--client-secret-file", dir.file("cc-post.secret"),
        "--token-endpoint-auth-method", "client_secret_post"}},
      {"jwt", {"--client-id", "cc-jwt", "--private-key-file", dir.file("jwt.pem")}},
      {"short", {"--client-id", "cc-short", "--client-secret-file", dir.file("cc-short.secret")}},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"--config", config,   "add",    c.id,    "--url",
                                     mcpUrl,     "--auth", "oauth2", "--json"};
    args.insert(args.end(), c.auth.begin(), c.auth.end());
    auto t0 = Clock::now();
    CHECK(runCtl(dir, args, std::string(c.id) + ".out") == 0);
    CHECK(Clock::now() - t0 < 2s);
    std::string out = readFile(dir.file(std::string(c.id) + ".out"));
    CHECK(out.find(R"("status":"healthy")") != std::string::npos);
    CHECK(out.find(R"("tool_count":2)") != std::string::npos);
  }
  // add ran discovery once and stored the token endpoint it found: the record binds it, and the
  // daemon sends the secret there and nowhere else.
  const std::string tokenUrl = "http://127.0.0.1:" + std::to_string(asPort) + "/token";
  CHECK(redis.query({"HGET", "mcp:server:basic", "token_url"}) ==
        std::optional<std::string>(tokenUrl));
  CHECK(readFile(dir.file("basic.out")).find("token_url: discovered " + tokenUrl) !=
        std::string::npos);
  // edit --rediscover runs it again (same endpoint here) and keeps the client secret.
  CHECK(runCtl(dir, {"--config", config, "edit", "post", "--rediscover"}, "rediscover.out") == 0);
  CHECK(redis.query({"HGET", "mcp:server:post", "token_url"}) ==
        std::optional<std::string>(tokenUrl));
  auto snapshot = redis.query({"GET", "mcp:tools:jwt"});
  REQUIRE(snapshot);
  CHECK(snapshot->find(R"("name":"whoami")") != std::string::npos);

  // One token serves many checks (an hour-long token); a 2 s token is replaced as it expires.
  int seen = 0;
  auto deadline = Clock::now() + kWait;
  while (seen < 4 && Clock::now() < deadline) {
    auto m = sub.waitFor(
        [](const Message& m) {
          return m.channel == "mcp:health" && field(m.payload, "server_id") == "basic";
        },
        kWait);
    REQUIRE(m);
    CHECK(field(m->payload, "status") == "healthy");
    ++seen;
  }
  CHECK(issued(mcpPort, "cc-basic") == 1);
  CHECK(issued(mcpPort, "cc-short") >= 2);

  // A revoked token: the server's 401 drops it, a fresh one is fetched and the check still passes.
  httpCall("http://127.0.0.1:" + std::to_string(mcpPort) + "/admin/revoke", true);
  auto afterRevoke = sub.waitFor(
      [](const Message& m) {
        return m.channel == "mcp:health" && field(m.payload, "server_id") == "basic";
      },
      kWait);
  REQUIRE(afterRevoke);
  CHECK(field(afterRevoke->payload, "status") == "healthy");
  CHECK(issued(mcpPort, "cc-basic") == 2);

  // A wrong secret: unhealthy, kind auth, with the endpoint's error and never the secret.
  writeFile(dir.file("wrong.secret"), "not-the-secret\n");
  CHECK(runCtl(dir,
               {"--config", config, "add", "wrong", "--json", "--url", mcpUrl, "--auth", "oauth2",
                "--client-id", "cc-basic", "--client-secret-file", dir.file("wrong.secret")},
               "wrong.out") == 1);
  std::string wrong = readFile(dir.file("wrong.out"));
  CHECK(wrong.find(R"("kind":"auth")") != std::string::npos);
  CHECK(wrong.find("invalid_client") != std::string::npos);
  CHECK(wrong.find("not-the-secret") == std::string::npos);

  // An authorization server whose metadata names another issuer (a mix-up): no token request.
  // mcp-healthctl add refuses it (its discovery has the same rules) and writes nothing...
  const std::string mixupUrl = "http://127.0.0.1:" + std::to_string(mcpPort) + "/mcp-mixup";
  CHECK(runCtl(dir,
               {"--config", config, "add", "mixup", "--url", mixupUrl, "--auth", "oauth2",
                "--client-id", "cc-basic", "--client-secret-file", dir.file("cc-basic.secret")},
               "mixup.out") == 1);
  CHECK(readFile(dir.file("mixup.out")).find("RFC 8414") != std::string::npos);
  CHECK_FALSE(redis.query({"HGET", "mcp:server:mixup", "url"}));
  // ... and a record written without a token_url makes the daemon discover, with the same rules.
  REQUIRE(sodium_init() >= 0);
  mcphd::auth::KeyRing ring;
  REQUIRE(ring.addKeyFile("k1", dir.file("k1.key"), "").ok());
  REQUIRE(ring.setActive("k1").ok());
  mcphd::auth::Credentials client;
  client.clientId = "cc-basic";
  client.clientSecret = mcphd::Secret(clientSecrets[0]);
  const mcphd::registry::RecordFields mixup = {{"url", mixupUrl}, {"auth_type", "oauth2"}};
  const std::string blob = *mcphd::registry::sealRecord("mixup", mixup, client, ring);
  redis.query(
      {"HSET", "mcp:server:mixup", "url", mixupUrl, "auth_type", "oauth2", "credentials", blob});
  redis.query({"SADD", "mcp:servers", "mixup"});
  auto cmd = redis.query({"XADD", "mcp:commands", "*", "op", "upsert", "server_id", "mixup"});
  REQUIRE(cmd);
  auto answer = sub.waitFor(
      [&](const Message& m) {
        return m.channel == "mcp:health" && field(m.payload, "command_id") == *cmd;
      },
      kWait);
  REQUIRE(answer);
  CHECK(answer->payload.find(R"("kind":"auth")") != std::string::npos);
  CHECK(answer->payload.find("RFC 8414") != std::string::npos);
  Json mixStats(httpCall("http://127.0.0.1:" + std::to_string(mcpPort) + "/admin/stats", false));
  REQUIRE(mixStats.ok);
  CHECK(num(mixStats.root, "captured") == 0);

  CHECK(daemon.stop(SIGTERM, 5s) == std::optional<int>(0));
  monitor.stop(SIGTERM, 5s);
  // Neither the client secrets nor any access token reached Redis in clear, or the log.
  Json stats(httpCall("http://127.0.0.1:" + std::to_string(mcpPort) + "/admin/stats", false));
  REQUIRE(stats.ok);
  std::vector<std::string> secretsAndTokens = clientSecrets;
  for (auto t : stats.root["tokensSeen"].get_array()) {
    secretsAndTokens.emplace_back(std::string_view(t));
  }
  REQUIRE(secretsAndTokens.size() > 4);
  std::string monitored = readFile(dir.file("monitor.log"));
  std::string logged = readFile(dir.file("daemon.log"));
  CHECK(monitored.find("mcp:server:basic") != std::string::npos);  // the capture worked
  for (const auto& s : secretsAndTokens) {
    CHECK(monitored.find(s) == std::string::npos);
    CHECK(logged.find(s) == std::string::npos);
  }
}
