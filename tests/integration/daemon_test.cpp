#include <signal.h>

#include <catch2/catch.hpp>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 30s;

const std::vector<std::string> kEverythingTools = {"echo",
                                                   "get-annotated-message",
                                                   "get-env",
                                                   "get-resource-links",
                                                   "get-resource-reference",
                                                   "get-structured-content",
                                                   "get-sum",
                                                   "get-tiny-image",
                                                   "gzip-file-as-resource",
                                                   "simulate-research-query",
                                                   "toggle-simulated-logging",
                                                   "toggle-subscriber-updates",
                                                   "trigger-long-running-operation"};

DaemonConfig configFor(const std::string& redisUrl, const std::string& serverUrl) {
  DaemonConfig c;
  c.redisUrl = redisUrl;
  c.defaults = {"interval: 1s",
                "timeout: 900ms",
                "connect_timeout: 500ms",
                "jitter: 0%",
                "healthy_threshold: 2",
                "unhealthy_threshold: 2",
                "unhealthy_interval: 300ms",
                "max_backoff: 1s"};
  c.servers = {{"everything", serverUrl, {}}};
  return c;
}

// A health message of server `id` satisfying `extra`.
std::function<bool(const Message&)> health(const std::string& id,
                                           std::function<bool(simdjson::dom::element)> extra) {
  return [id, extra](const Message& m) {
    if (m.channel != "mcp:health") {
      return false;
    }
    Json j(m.payload);
    REQUIRE(j.ok);
    std::string_view sid;
    if (j.root["server_id"].get(sid) != simdjson::SUCCESS || sid != id) {
      return false;
    }
    return extra(j.root);
  };
}

}  // namespace

TEST_CASE(
    "the daemon checks server-everything, follows its failures and survives a Redis restart") {
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer everything(dir);
  Subscriber sub(redis.port(), {"mcp:health", "mcp:tools"});
  const DaemonConfig config = configFor(redis.url(), everything.url());
  auto daemon = startDaemon(dir, config);
  INFO("daemon log: " << daemon->logPath());

  // 1. healthy, with all 13 tools, published and stored.
  auto first = sub.waitFor(
      health("everything", [](auto e) { return str(e, "status") == "healthy"; }), kWait);
  REQUIRE(first);
  Json h(first->payload);
  CHECK(num(h.root, "v") == 1);
  CHECK(num(h.root, "tool_count") == 13);
  CHECK(str(h.root, "protocol_version") == "2025-11-25");
  CHECK(str(h.root["server_info"], "name") == "mcp-servers/everything");
  CHECK(str(h.root, "trigger") == "startup");
  CHECK(h.root["error"].is_null());
  auto tools = sub.waitFor([](const Message& m) { return m.channel == "mcp:tools"; }, kWait);
  REQUIRE(tools);
  Json t(tools->payload);
  std::vector<std::string> added;
  for (auto n : t.root["added"].get_array()) {
    added.emplace_back(std::string_view(n));
  }
  CHECK(added == kEverythingTools);
  auto snapshot = redis.query({"GET", "mcp:tools:everything"});
  REQUIRE(snapshot);
  Json s(*snapshot);
  REQUIRE(s.ok);
  CHECK(s.root["tools"].get_array().size() == 13);
  CHECK(str(s.root, "tools_hash") == str(h.root, "tools_hash"));
  REQUIRE(redis.query({"HGET", "mcp:status", "everything"}));

  // 2. the server dies: one failure is tolerated, the second (threshold 2) turns it unhealthy.
  everything.stop();
  auto firstFailure = sub.waitFor(
      health("everything", [](auto e) { return num(e, "consecutive_failures") == 1; }), kWait);
  REQUIRE(firstFailure);
  Json f1(firstFailure->payload);
  CHECK(str(f1.root, "status") == "healthy");
  CHECK(str(f1.root["error"], "kind") == "connect");
  auto down = sub.waitFor(
      health("everything", [](auto e) { return str(e, "status") == "unhealthy"; }), kWait);
  REQUIRE(down);
  Json d(down->payload);
  CHECK(num(d.root, "consecutive_failures") == 2);
  CHECK(str(d.root, "previous_status") == "healthy");
  CHECK(d.root["changed"].get_bool().value());
  CHECK(str(d.root["error"], "kind") == "connect");

  // 3. it comes back: healthy after two consecutive successes.
  everything.start();
  auto up = sub.waitFor(health("everything", [](auto e) { return str(e, "status") == "healthy"; }),
                        kWait);
  REQUIRE(up);
  CHECK(num(Json(up->payload).root, "consecutive_successes") == 2);

  // 4. Redis restarts empty: nothing later is lost, the hash and the tools key are refilled.
  int64_t lastSeq = num(Json(up->payload).root, "seq");
  redis.stop();
  std::this_thread::sleep_for(1500ms);  // checks go on meanwhile
  redis.start();
  auto after =
      sub.waitFor(health("everything", [&](auto e) { return num(e, "seq") > lastSeq; }), kWait);
  REQUIRE(after);
  auto deadline = Clock::now() + kWait;
  while (Clock::now() < deadline && !(redis.query({"HGET", "mcp:status", "everything"}) &&
                                      redis.query({"GET", "mcp:tools:everything"}))) {
    std::this_thread::sleep_for(100ms);
  }
  auto stored = redis.query({"HGET", "mcp:status", "everything"});
  REQUIRE(stored);
  CHECK(num(Json(*stored).root, "seq") > lastSeq);
  REQUIRE(redis.query({"GET", "mcp:tools:everything"}));

  // 5. SIGTERM: exits 0 (no libuv handle left open, or it exits 70) within 2 s.
  auto t0 = Clock::now();
  auto rc = daemon->stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  CHECK(Clock::now() - t0 < 2s);

  // 6. seq keeps increasing across daemon restarts.
  int64_t beforeRestart = num(Json(*redis.query({"HGET", "mcp:status", "everything"})).root, "seq");
  daemon = startDaemon(dir, config, "restarted");
  auto next = sub.waitFor(
      health("everything", [](auto e) { return str(e, "trigger") == "startup"; }), kWait);
  REQUIRE(next);
  CHECK(num(Json(next->payload).root, "seq") == beforeRestart + 1);
  auto rc2 = daemon->stop(SIGINT, 5s);
  REQUIRE(rc2);
  CHECK(*rc2 == 0);
}

TEST_CASE(
    "mcp-healthd --once prints one health line per server and exits 1 unless all are healthy") {
  TempDir dir;
  EverythingServer everything(dir);
  DaemonConfig config;
  config.defaults = {};
  config.servers = {{"ok", everything.url(), {}},
                    {"refused", "http://127.0.0.1:" + std::to_string(freePort()) + "/mcp", {}}};
  TestDaemon once(dir, config, {"--once"}, {}, "once");
  auto rc = once.process().wait(30s);
  REQUIRE(rc);
  CHECK(*rc == 1);
  std::string out = readFile(once.logPath());
  CHECK(out.find(R"("server_id":"ok","seq":1,"status":"healthy")") != std::string::npos);
  CHECK(out.find(R"("server_id":"refused","seq":1,"status":"unhealthy")") != std::string::npos);
  CHECK(out.find(R"("kind":"connect")") != std::string::npos);

  config.servers.pop_back();
  TestDaemon again(dir, config, {"--once"}, {}, "once-healthy");
  CHECK(again.process().wait(30s) == std::optional<int>(0));
}

TEST_CASE(
    "mcp-healthd --check-config exits 0 for a good config and 2 with the error for a bad one") {
  TempDir dir;
  const std::string good = dir.file("good.yaml");
  writeFile(good, "servers:\n  - id: a\n    url: http://127.0.0.1:1/mcp\n");
  Process p({MCPHD_DAEMON_PATH, "--config", good, "--check-config"}, {}, dir.file("good.out"));
  CHECK(p.wait(10s) == std::optional<int>(0));
  const std::string bad = dir.file("bad.yaml");
  writeFile(
      bad,
      "servers:\n  - id: a\n    url: http://127.0.0.1:1/mcp\n    interval: 1s\n    timeout: 2s\n");
  Process q({MCPHD_DAEMON_PATH, "--config", bad, "--check-config"}, {}, dir.file("bad.out"));
  CHECK(q.wait(10s) == std::optional<int>(2));
  CHECK(readFile(dir.file("bad.out"))
            .find(bad + ":5: servers[0].timeout: must be shorter than interval") !=
        std::string::npos);
}

TEST_CASE("the egress policy refuses a denied network before any connection is attempted") {
  TempDir dir;
  SilentServer listener;
  DaemonConfig config;
  config.defaults = {};
  config.extra = {"egress:", "  deny: [127.0.0.0/8]"};
  config.servers = {{"denied", listener.url(), {}}};
  TestDaemon denied(dir, config, {"--once"}, {}, "egress");
  auto rc = denied.process().wait(30s);
  REQUIRE(rc);
  CHECK(*rc == 1);
  std::string out = readFile(denied.logPath());
  CHECK(
      out.find(
          R"("kind":"config","message":"egress policy denies 127.0.0.1 (egress.deny 127.0.0.0/8))") !=
      std::string::npos);
  CHECK_FALSE(listener.hadConnection());

  // The same server with the default policy is reached (and times out: the listener never answers).
  config.extra.clear();
  config.servers = {{"allowed", listener.url(), {"interval: 10s", "timeout: 500ms"}}};
  TestDaemon allowed(dir, config, {"--once"}, {}, "egress-default");
  REQUIRE(allowed.process().wait(30s));
  CHECK(readFile(allowed.logPath()).find(R"("kind":"timeout")") != std::string::npos);
  CHECK(listener.hadConnection());
}

TEST_CASE("legacy HTTP+SSE servers are checked with transport sse, and found by transport auto") {
  TempDir dir;
  EverythingServer legacy(dir, 0, "sse");
  EverythingServer modern(dir);
  DaemonConfig config;
  config.defaults = {};
  config.servers = {{"forced-sse", legacy.url(), {"transport: sse"}},
                    {"auto-sse", legacy.url(), {}},
                    {"auto-http", modern.url(), {}},
                    {"http-on-sse", legacy.url(), {"transport: streamable_http"}}};
  TestDaemon once(dir, config, {"--once"}, {}, "transports");
  auto rc = once.process().wait(30s);
  REQUIRE(rc);
  CHECK(*rc == 1);  // http-on-sse cannot work
  std::string out = readFile(once.logPath());
  for (const char* id : {"forced-sse", "auto-sse"}) {
    INFO(id);
    CHECK(out.find(std::string(R"("server_id":")") + id + R"(","seq":1,"status":"healthy")") !=
          std::string::npos);
  }
  CHECK(out.find(R"("server_id":"auto-http","seq":1,"status":"healthy")") != std::string::npos);
  CHECK(out.find(R"("protocol_version":"2024-11-05")") != std::string::npos);
  CHECK(out.find(R"("server_id":"http-on-sse","seq":1,"status":"unhealthy")") != std::string::npos);
  CHECK(out.find(R"("tool_count":13)") != std::string::npos);
}
