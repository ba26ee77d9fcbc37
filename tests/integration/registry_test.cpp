#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "auth/key_ring.hpp"
#include "harness.hpp"
#include "registry/record.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 30s;

std::string field(const std::string& json, const char* key) {
  Json j(json);
  std::string_view v;
  return j.ok && j.root[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

std::function<bool(const Message&)> answering(const std::string& commandId) {
  return [commandId](const Message& m) {
    return m.channel == "mcp:health" && field(m.payload, "command_id") == commandId;
  };
}

}  // namespace

TEST_CASE("servers registered in Redis are checked on upsert and answer commands by command_id") {
  REQUIRE(sodium_init() >= 0);
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer everything(dir);
  SilentServer silent;
  const std::string key = mcphd::auth::generateKeyBase64();
  writeFile(dir.file("k1.key"), key + "\n");
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1", "registry_resync: 1s"};
  config.defaults = {"interval: 30s", "timeout: 3s"};
  config.servers = {{"cfg", everything.url(), {}}};
  mcphd::auth::KeyRing ring;
  REQUIRE(ring.addKey("k1", key).ok());
  REQUIRE(ring.setActive("k1").ok());
  const std::string secret = "tok-" + mcphd::auth::generateKeyBase64();
  mcphd::auth::Credentials creds;
  creds.bearerToken = mcphd::Secret(secret);
  const std::string blob = *mcphd::registry::sealRecord(
      "ev", {{"url", everything.url()}, {"auth_type", "bearer"}}, creds, ring);

  Subscriber sub(redis.port(), {"mcp:health", "mcp:tools"});
  auto daemon = startDaemon(dir, config);
  INFO("daemon log: " << daemon->logPath());

  // 1. A record plus an upsert command: healthy with its tools, answering the command, fast.
  redis.query({"HSET", "mcp:server:ev", "url", everything.url(), "auth_type", "bearer",
               "credentials", blob, "interval", "1m", "timeout", "5s"});
  redis.query({"SADD", "mcp:servers", "ev"});
  auto t0 = Clock::now();
  auto cmd = redis.query({"XADD", "mcp:commands", "*", "op", "upsert", "server_id", "ev"});
  REQUIRE(cmd);
  // The first read of the registry may find the record before the command does: its first check
  // (due at once) then publishes the tools, and the command's check answers with the same ones.
  auto toolsOfEv = [](const Message& m) {
    return m.channel == "mcp:tools" && field(m.payload, "server_id") == "ev";
  };
  bool sawTools = false;
  auto up = sub.waitFor(
      [&](const Message& m) {
        sawTools = sawTools || toolsOfEv(m);
        return answering(*cmd)(m);
      },
      kWait);
  REQUIRE(up);
  auto took = Clock::now() - t0;
  CHECK(field(up->payload, "status") == "healthy");
  CHECK(field(up->payload, "trigger") == "upsert");
  CHECK(took < 2s);
  if (!sawTools) {
    sawTools = sub.waitFor(toolsOfEv, kWait).has_value();
  }
  REQUIRE(sawTools);
  CHECK(redis.query({"GET", "mcp:tools:ev"}));
  // XPENDING's summary is an array, which query() does not return: take its count with a script.
  auto pendingCount = [&] {
    auto r = redis.query({"EVAL", "return redis.call('XPENDING', KEYS[1], ARGV[1])[1]", "1",
                          "mcp:commands", "mcp-healthd"});
    return r ? std::stoll(*r) : -1;
  };
  auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline && pendingCount() != 0) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(pendingCount() == 0);
  // The stored record never holds the secret in clear.
  CHECK(redis.query({"HGET", "mcp:server:ev", "credentials"})->find(secret) == std::string::npos);

  // 2. check commands: one server, and all of them.
  auto c1 = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "ev"});
  auto a1 = sub.waitFor(answering(*c1), kWait);
  REQUIRE(a1);
  CHECK(field(a1->payload, "trigger") == "command");
  auto all = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "*"});
  std::set<std::string> answeredBy;
  for (int i = 0; i < 2; ++i) {
    auto m = sub.waitFor(answering(*all), kWait);
    REQUIRE(m);
    answeredBy.insert(field(m->payload, "server_id"));
  }
  CHECK(answeredBy == std::set<std::string>{"cfg", "ev"});

  // 3. Bad commands and bad records get specific answers.
  auto bad = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "nope"});
  auto badAnswer =
      sub.waitFor([&](const Message& m) { return field(m.payload, "command_id") == *bad; }, kWait);
  REQUIRE(badAnswer);
  CHECK(field(badAnswer->payload, "type") == "command_error");
  redis.query({"HSET", "mcp:server:broken", "url", everything.url(), "auth_type", "bearer",
               "credentials", blob});
  redis.query({"SADD", "mcp:servers", "broken"});
  auto c2 = redis.query({"XADD", "mcp:commands", "*", "op", "upsert", "server_id", "broken"});
  auto broken = sub.waitFor(answering(*c2), kWait);
  REQUIRE(broken);
  CHECK(field(broken->payload, "status") == "unhealthy");
  Json bj(broken->payload);
  CHECK(std::string_view(bj.root["error"]["kind"]) == "config");
  CHECK(std::string_view(bj.root["error"]["message"]).find("another server id") !=
        std::string_view::npos);
  // A record that clashes with a config id is refused.
  redis.query({"HSET", "mcp:server:cfg", "url", "http://127.0.0.1:1/mcp"});
  redis.query({"SADD", "mcp:servers", "cfg"});
  auto c3 = redis.query({"XADD", "mcp:commands", "*", "op", "upsert", "server_id", "cfg"});
  auto clash =
      sub.waitFor([&](const Message& m) { return field(m.payload, "command_id") == *c3; }, kWait);
  REQUIRE(clash);
  CHECK(field(clash->payload, "type") == "command_error");

  // 4. A record written without a command is picked up by the resync (once the first full load,
  // whose servers get spread first checks, is done).
  deadline = Clock::now() + kWait;
  while (Clock::now() < deadline &&
         readFile(dir.file("daemon.log")).find("servers registered in Redis") ==
             std::string::npos) {
    std::this_thread::sleep_for(50ms);
  }
  redis.query(
      {"HSET", "mcp:server:quiet", "url", everything.url(), "interval", "1m", "timeout", "5s"});
  redis.query({"SADD", "mcp:servers", "quiet"});
  auto quiet =
      sub.waitFor([](const Message& m) { return field(m.payload, "server_id") == "quiet"; }, kWait);
  REQUIRE(quiet);
  CHECK(field(quiet->payload, "trigger") == "resync");

  // 5. remove: state deleted, removal published with the command id.
  auto c4 = redis.query({"XADD", "mcp:commands", "*", "op", "remove", "server_id", "ev"});
  auto removed = sub.waitFor(answering(*c4), kWait);
  REQUIRE(removed);
  CHECK(field(removed->payload, "type") == "removed");
  CHECK_FALSE(redis.query({"HGET", "mcp:status", "ev"}));
  CHECK_FALSE(redis.query({"GET", "mcp:tools:ev"}));

  // 6. Killed with a command pending: the restarted daemon answers it.
  redis.query({"HSET", "mcp:server:slow", "url", silent.url(), "interval", "1m", "timeout", "3s"});
  redis.query({"SADD", "mcp:servers", "slow"});
  auto c5 = redis.query({"XADD", "mcp:commands", "*", "op", "upsert", "server_id", "slow"});
  deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && pendingCount() != 1) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(pendingCount() == 1);  // delivered, not yet answered (the check takes 3 s)
  daemon->stop(SIGKILL, 5s);
  daemon = startDaemon(dir, config);
  auto late = sub.waitFor(answering(*c5), kWait);
  REQUIRE(late);
  CHECK(field(late->payload, "server_id") == "slow");
  Json lj(late->payload);
  CHECK(std::string_view(lj.root["error"]["kind"]) == "timeout");
  deadline = Clock::now() + 5s;
  while (Clock::now() < deadline && pendingCount() != 0) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(pendingCount() == 0);

  auto rc = daemon->stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  CHECK(readFile(daemon->logPath()).find(secret) == std::string::npos);
}

TEST_CASE("Redis ACL users: redis.username with a private redis.password_file") {
  TempDir dir;
  RedisServer redis(dir);
  // ops may do everything; the default user may not read hashes, so a client that did not log
  // in as ops cannot list.
  REQUIRE(redis.query({"ACL", "SETUSER", "ops", "on", ">ops-pass-8f2", "~*", "&*", "+@all"}));
  REQUIRE(redis.query({"ACL", "SETUSER", "default", "-hgetall"}));
  writeFile(dir.file("redis.pass"), "ops-pass-8f2\n");
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.extra = {"  username: ops", "  password_file: redis.pass"};  // under redis:
  config.defaults = {};
  writeFile(dir.file("d.yaml"), config.yaml());  // for mcp-healthctl, before any daemon
  // Readable by others: refused, naming the file.
  REQUIRE(chmod(dir.file("redis.pass").c_str(), 0644) == 0);
  CHECK(runCtl(dir, {"--config", dir.file("d.yaml"), "list"}, "open.out") == 2);
  CHECK(readFile(dir.file("open.out")).find("is readable by group or others") != std::string::npos);
  REQUIRE(chmod(dir.file("redis.pass").c_str(), 0600) == 0);
  CHECK(runCtl(dir, {"--config", dir.file("d.yaml"), "list"}, "list.out") == 0);
  CHECK(runCtl(dir, {"--redis", redis.url(), "list"}, "anon.out") == 1);  // as the default user
  TestDaemon daemon(dir, config);
  INFO("logs in " << dir.path());
  bool asOps = false;
  for (int i = 0; i < 100 && !asOps; ++i) {
    std::this_thread::sleep_for(100ms);
    auto clients = redis.query({"CLIENT", "LIST"});
    asOps = clients && clients->find("user=ops") != std::string::npos;
  }
  CHECK(asOps);
  CHECK(readFile(daemon.logPath()).find("ops-pass-8f2") == std::string::npos);
  CHECK(daemon.stop(SIGTERM, 5s) == std::optional<int>(0));
}

TEST_CASE(
    "a check written while the daemon is down is answered after it starts, a bad record "
    "affects only itself") {
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer everything(dir);
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 5m", "timeout: 5s"};
  for (const char* id : {"good-a", "good-b"}) {
    redis.query({"HSET", std::string("mcp:server:") + id, "url", everything.url()});
  }
  redis.query({"SET", "mcp:server:wrong-type", "not a hash"});
  redis.query({"SADD", "mcp:servers", "good-a", "wrong-type", "good-b"});
  // Written before any daemon ran: the stream and its entry exist, the group not yet.
  auto cmd = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "good-b"});
  REQUIRE(cmd);
  Subscriber sub(redis.port(), {"mcp:health"});
  auto daemon = startDaemon(dir, config);
  INFO("daemon log: " << daemon->logPath());
  auto answer = sub.waitFor(answering(*cmd), kWait);
  REQUIRE(answer);
  CHECK(field(answer->payload, "type") == "health");
  CHECK(field(answer->payload, "server_id") == "good-b");
  CHECK(field(answer->payload, "status") == "healthy");
  // The others: good-a healthy, wrong-type reported alone.
  auto check = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "*"});
  std::map<std::string, std::string> statuses;
  std::string wrongMessage;
  for (int i = 0; i < 3; ++i) {
    auto m = sub.waitFor(answering(*check), kWait);
    REQUIRE(m);
    statuses[field(m->payload, "server_id")] = field(m->payload, "status");
    if (field(m->payload, "server_id") == "wrong-type") {
      Json j(m->payload);
      wrongMessage = std::string(std::string_view(j.root["error"]["message"]));
    }
  }
  CHECK(statuses["good-a"] == "healthy");
  CHECK(statuses["good-b"] == "healthy");
  CHECK(statuses["wrong-type"] == "unhealthy");
  CHECK(wrongMessage.find("record wrong-type: cannot read hash mcp:server:wrong-type: WRONGTYPE") ==
        0);
  CHECK(daemon->stop(SIGTERM, 5s) == std::optional<int>(0));
}
