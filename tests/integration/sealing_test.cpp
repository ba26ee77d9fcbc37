// Credentials go only where they were sealed to go: whoever can write to Redis cannot redirect
// them by editing a record's clear fields (issue: envelope v2).
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
  const std::string config = dir.file("d.yaml");
  writeFile(config, "redis:\n  url: " + redis.url() +
                        "\nsecrets:\n  keys: {k1: k1.key}\n  active: k1\n"
                        "defaults:\n  interval: 5m\n  timeout: 3s\nservers: []\n");
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
  Process daemon({MCPHD_DAEMON_PATH, "--config", config, "--log-level", "debug"}, {},
                 dir.file("daemon.log"));
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
  runCtl(dir, {"--config", config, "edit", "inv", "--url", everything.url() + "?moved=1"},
         "edit.out");
  const std::string edited = readFile(dir.file("edit.out"));
  CHECK(edited.find(R"("error":null)") != std::string::npos);
  CHECK(edited.find(R"("tool_count":13)") != std::string::npos);

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
