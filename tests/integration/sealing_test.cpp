// Credentials go only where they were sealed to go: whoever can write to Redis cannot redirect
// them by editing a record's clear fields (issue: envelope v2).
#include <signal.h>
#include <sodium.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <map>
#include <thread>

#include "auth/key_ring.hpp"
#include "auth/oauth2.hpp"
#include "common/base64.hpp"
#include "harness.hpp"
#include "registry/record.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 30s;

std::function<bool(const Message&)> answering(const std::string& commandId) {
  return [commandId](const Message& m) {
    Json j(m.payload);
    if (m.channel != "mcp:health" || !j.ok) {
      return false;
    }
    simdjson::dom::array ids;
    if (j.root["command_ids"].get(ids) == simdjson::SUCCESS) {
      for (auto id : ids) {
        if (std::string_view(id) == commandId) {
          return true;  // a check joined by several commands answers them all
        }
      }
    }
    return str(j.root, "command_id") == commandId;
  };
}

std::string errorMessage(const std::string& payload) {
  Json j(payload);
  std::string_view v;
  return j.ok && j.root["error"]["message"].get(v) == simdjson::SUCCESS ? std::string(v) : "";
}

std::string errorKind(const std::string& payload) {
  Json j(payload);
  std::string_view v;
  return j.ok && j.root["error"]["kind"].get(v) == simdjson::SUCCESS ? std::string(v) : "";
}

}  // namespace

TEST_CASE("a sealed secret is never sent to a url or token_url changed in Redis") {
  REQUIRE(sodium_init() >= 0);
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer everything(dir);
  SilentServer elsewhere;  // any connection to it is a leak
  const std::string key = mcphd::auth::generateKeyBase64();
  writeFile(dir.file("k1.key"), key + "\n");
  DaemonConfig daemonConfig;
  daemonConfig.redisUrl = redis.url();
  daemonConfig.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  daemonConfig.defaults = {"interval: 5m", "timeout: 3s"};
  mcphd::auth::KeyRing ring;
  REQUIRE(ring.addKey("k1", key).ok());
  REQUIRE(ring.setActive("k1").ok());
  const std::string token = "tok-" + mcphd::auth::generateKeyBase64();
  mcphd::auth::Credentials bearer;
  bearer.bearerToken = mcphd::Secret(token);
  const mcphd::registry::RecordFields inv = {{"url", everything.url()}, {"auth_type", "bearer"}};
  const std::string invBlob = *mcphd::registry::sealRecord("inv", inv, bearer, ring);
  // An OAuth2 client whose token endpoint is sealed as unreachable: a check fails with kind auth.
  const std::string deadAs = "http://127.0.0.1:" + std::to_string(freePort()) + "/token";
  const std::string clientSecret = "cs-" + mcphd::auth::generateKeyBase64();
  mcphd::auth::Credentials client;
  client.clientId = "checker";
  client.clientSecret = mcphd::Secret(clientSecret);
  const mcphd::registry::RecordFields m2m = {
      {"url", everything.url()}, {"auth_type", "oauth2"}, {"token_url", deadAs}};
  const std::string m2mBlob = *mcphd::registry::sealRecord("m2m", m2m, client, ring);
  redis.query({"HSET", "mcp:server:inv", "url", everything.url(), "auth_type", "bearer",
               "credentials", invBlob});
  redis.query({"HSET", "mcp:server:m2m", "url", everything.url(), "auth_type", "oauth2",
               "token_url", deadAs, "credentials", m2mBlob});
  redis.query({"SADD", "mcp:servers", "inv", "m2m"});

  Subscriber sub(redis.port(), {"mcp:health"});
  TestDaemon daemon(dir, daemonConfig, {"--log-level", "debug"});
  const std::string config = daemon.configPath();  // mcp-healthctl reads the same
  INFO("logs in " << dir.path());
  auto upsert = [&](const std::string& id) {
    auto cmd = redis.query({"XADD", "mcp:commands", "*", "op", "upsert", "server_id", id});
    REQUIRE(cmd);
    auto m = sub.waitFor(answering(*cmd), kWait);
    REQUIRE(m);
    return m->payload;
  };

  // As sealed: inv is healthy; m2m fails at its (sealed) token endpoint.
  std::string ok = upsert("inv");
  CHECK(str(Json(ok).root, "status") == "healthy");
  CHECK(errorKind(upsert("m2m")) == "auth");

  // Whoever can write to Redis points the record elsewhere: nothing is sent anywhere.
  redis.query({"HSET", "mcp:server:inv", "url", elsewhere.url()});
  std::string redirected = upsert("inv");
  CHECK(str(Json(redirected).root, "status") == "unhealthy");
  CHECK(errorKind(redirected) == "config");
  CHECK(errorMessage(redirected) ==
        "record inv: url differs from the sealed url; re-seal with mcp-healthctl edit inv");
  redis.query({"HSET", "mcp:server:m2m", "token_url", elsewhere.url()});
  std::string stolen = upsert("m2m");
  CHECK(errorKind(stolen) == "config");
  CHECK(errorMessage(stolen).find("token_url differs from the sealed token_url") !=
        std::string::npos);
  // A recheck of both, and a resync, still send nothing.
  redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "*"});
  std::this_thread::sleep_for(1500ms);
  CHECK_FALSE(elsewhere.hadConnection());

  // The operator re-seals inv to the new url with edit (the secret is kept, not re-entered).
  // (Its first success after being unhealthy: no error, healthy at the next one.)
  runCtl(dir, {"--config", config, "edit", "inv", "--json", "--url", everything.url() + "?moved=1"},
         "edit.out");
  const std::string edited = readFile(dir.file("edit.out"));
  CHECK(edited.find(R"("error":null)") != std::string::npos);
  CHECK(edited.find(R"("tool_count":13)") != std::string::npos);

  // Tampered again: the command the daemon names (edit, no options) puts the sealed url back
  // rather than sealing the attacker's, and says so; reseal refuses a v2 record that differs.
  redis.query({"HSET", "mcp:server:inv", "url", elsewhere.url(), "headers", R"({"X-Evil":"1"})"});
  CHECK(runCtl(dir, {"--config", config, "reseal", "inv", "--yes"}, "reseal-tampered.out") == 1);
  CHECK(readFile(dir.file("reseal-tampered.out")).find("differ from their sealed copies") !=
        std::string::npos);
  runCtl(dir, {"--config", config, "edit", "inv", "--json"}, "restore.out");
  const std::string restored = readFile(dir.file("restore.out"));
  CHECK(restored.find("url: restoring the sealed value " + everything.url() + "?moved=1") !=
        std::string::npos);
  CHECK(restored.find("headers: restoring the sealed value (none)") != std::string::npos);
  CHECK(redis.query({"HGET", "mcp:server:inv", "url"}) ==
        std::optional<std::string>(everything.url() + "?moved=1"));
  CHECK_FALSE(redis.query({"HGET", "mcp:server:inv", "headers"}));
  CHECK(restored.find(R"("error":null)") != std::string::npos);
  CHECK_FALSE(elsewhere.hadConnection());

  // A v1 record is refused by default, naming reseal; reseal --yes makes it v2 and healthy.
  std::string v1 = *ring.seal(R"({"bearer_token":")" + token + "\"}", "old");
  v1[1] = '1';
  redis.query({"HSET", "mcp:server:old", "url", everything.url(), "auth_type", "bearer",
               "credentials", v1});
  redis.query({"SADD", "mcp:servers", "old"});
  std::string refused = upsert("old");
  CHECK(errorKind(refused) == "config");
  CHECK(errorMessage(refused).find("mcp-healthctl reseal old") != std::string::npos);
  CHECK(runCtl(dir, {"--config", config, "reseal", "old", "--yes"}, "reseal.out") == 0);
  CHECK(redis.query({"HGET", "mcp:server:old", "credentials"})->rfind("v2.k1.", 0) == 0);
  std::string resealed = upsert("old");
  CHECK(errorKind(resealed).empty());
  CHECK(str(Json(resealed).root, "server_id") == "old");

  auto rc = daemon.stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  const std::string log = readFile(dir.file("daemon.log"));
  CHECK(log.find(token) == std::string::npos);
  CHECK(log.find(clientSecret) == std::string::npos);
}

namespace {

std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

std::string percent(const std::string& s, bool lower) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, lower ? "%%%02x" : "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string jsonEscaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

}  // namespace

TEST_CASE("servers and token endpoints that echo every request never get a secret published") {
  REQUIRE(sodium_init() >= 0);
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  const std::string key = mcphd::auth::generateKeyBase64();
  writeFile(dir.file("k1.key"), key + "\n");
  DaemonConfig daemonConfig;
  daemonConfig.redisUrl = redis.url();
  daemonConfig.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  // Failing servers come back every 1-2 s: the rounds below are never 5 s apart (first checks
  // are all at start-up, not spread over the interval).
  daemonConfig.defaults = {"interval: 2s", "timeout: 1500ms", "unhealthy_interval: 1s",
                           "max_backoff: 2s"};
  mcphd::auth::KeyRing ring;
  REQUIRE(ring.addKey("k1", key).ok());
  REQUIRE(ring.setActive("k1").ok());
  // Each secret has a distinctive start and characters that every encoding changes.
  const std::string bearer = "Tb" + randomHex(16) + " /+\"&=";
  const std::string password = "Pw" + randomHex(16) + " /+\"&=";
  const std::string apiKey = "Kk" + randomHex(16) + "/+&=";
  const std::string postSecret = "S1" + randomHex(16) + " /+\"&=";
  const std::string basicSecret = "S2" + randomHex(16) + " /+\"&=";
  struct Server {
    std::string id;
    mcphd::registry::RecordFields fields;
    mcphd::auth::Credentials creds;
  };
  std::vector<Server> servers(5);
  servers[0].id = "echo-bearer";
  servers[0].fields = {{"url", fault.url("b", "echo")}, {"auth_type", "bearer"}};
  servers[0].creds.bearerToken = mcphd::Secret(bearer);
  servers[1].id = "echo-basic";
  servers[1].fields = {{"url", fault.url("p", "echo")}, {"auth_type", "basic"}};
  servers[1].creds.username = "user";
  servers[1].creds.password = mcphd::Secret(password);
  servers[2].id = "echo-headers";
  servers[2].fields = {{"url", fault.url("h", "echo")}, {"auth_type", "headers"}};
  servers[2].creds.headers.emplace_back("X-Api-Key", mcphd::Secret(apiKey));
  servers[3].id = "echo-token-post";
  servers[3].fields = {{"url", fault.url("t1", "healthy")},
                       {"auth_type", "oauth2"},
                       {"token_url", fault.url("t1", "echo-token")},
                       {"token_endpoint_auth_method", "client_secret_post"}};
  servers[3].creds.clientId = "client one";
  servers[3].creds.clientSecret = mcphd::Secret(postSecret);
  servers[4].id = "echo-token-basic";
  servers[4].fields = {{"url", fault.url("t2", "healthy")},
                       {"auth_type", "oauth2"},
                       {"token_url", fault.url("t2", "echo-token")},
                       {"token_endpoint_auth_method", "client_secret_basic"}};
  servers[4].creds.clientId = "client two";
  servers[4].creds.clientSecret = mcphd::Secret(basicSecret);
  for (auto& s : servers) {
    s.fields["credentials"] = *mcphd::registry::sealRecord(s.id, s.fields, s.creds, ring);
    std::vector<std::string> hset = {"HSET", "mcp:server:" + s.id};
    for (const auto& [k, v] : s.fields) {
      hset.push_back(k);
      hset.push_back(v);
    }
    redis.query(hset);
    redis.query({"SADD", "mcp:servers", s.id});
  }
  // Every form in which these secrets went on the wire.
  std::vector<std::string> forms;
  for (const std::string& s : {bearer, password, apiKey, postSecret, basicSecret}) {
    forms.push_back(s);
    forms.push_back(s.substr(0, 12));  // any cut piece of it
    forms.push_back(mcphd::auth::formEncode(s));
    forms.push_back(percent(s, false));
    forms.push_back(percent(s, true));
    forms.push_back(jsonEscaped(s));
  }
  forms.push_back(mcphd::base64("user:" + password));
  forms.push_back(mcphd::base64(mcphd::auth::formEncode("client two") + ":" +
                                mcphd::auth::formEncode(basicSecret)));

  Subscriber sub(redis.port(), {"mcp:health"});
  TestDaemon daemon(dir, daemonConfig, {"--log-level", "debug"});
  INFO("logs in " << dir.path());
  // Two rounds of every server's checks (its errors, published and logged).
  std::map<std::string, int> seen;
  std::vector<std::string> published;
  auto deadline = Clock::now() + kWait;
  while (Clock::now() < deadline) {
    auto m = sub.waitFor([](const Message&) { return true; }, 5s);
    if (!m) {
      break;
    }
    published.push_back(m->payload);
    Json j(m->payload);
    ++seen[str(j.root, "server_id")];
    bool done = true;
    for (const auto& s : servers) {
      done = done && seen[s.id] >= 2;
    }
    if (done) {
      break;
    }
  }
  for (const auto& s : servers) {
    CHECK(seen[s.id] >= 2);
    auto status = redis.query({"HGET", "mcp:status", s.id});
    REQUIRE(status);
    published.push_back(*status);
  }
  auto rc = daemon.stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  published.push_back(readFile(dir.file("daemon.log")));
  size_t redacted = 0;
  for (const auto& text : published) {
    for (const auto& f : forms) {
      INFO("form " << f);
      CHECK(text.find(f) == std::string::npos);
    }
    redacted += text.find("[redacted]") != std::string::npos ? 1 : 0;
  }
  // The echoes did reach the messages (with the secrets cut out).
  CHECK(redacted >= servers.size());
}
