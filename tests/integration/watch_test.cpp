#include <signal.h>

#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

std::string field(const std::string& json, const char* key) {
  Json j(json);
  std::string_view v;
  return j.ok && j.root[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

std::function<bool(const Message&)> healthOf(const std::string& id, const std::string& trigger) {
  return [id, trigger](const Message& m) {
    return m.channel == "mcp:health" && field(m.payload, "server_id") == id &&
           field(m.payload, "trigger") == trigger;
  };
}

}  // namespace

TEST_CASE(
    "watch_tools: list_changed over stdio, SSE and Streamable HTTP re-lists the tools, a "
    "watch reconnects after its server restarts") {
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer legacy(dir, 0, "sse");
  ListChangedServer changing(dir);
  Subscriber sub(redis.port(), {"mcp:health", "mcp:tools"});
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 5m", "timeout: 10s", "jitter: 0%", "watch_tools: true"};
  config.servers = {{"stdio-everything",
                     "",
                     {"command: node", "args: [\"" + everythingScript() + "\", stdio]",
                      "env: {MCPHD_TEST_MARK: \"" + dir.path() + "\"}"}},
                    {"sse-everything", legacy.url(), {}},
                    {"changing", changing.url(), {}},
                    {"unwatched", changing.url(), {"watch_tools: false"}}};
  TestDaemon daemon(dir, config);
  INFO("daemon log: " << daemon.logPath());
  // No command for the two server-everything servers: a command that comes while their
  // list_changed check is under way joins it, and its result then says `command`.
  for (const char* id : {"changing", "unwatched"}) {
    redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", id});
  }
  // Collected in one wait: the messages come in any order. server-everything says list_changed
  // right after initialized: the kept stdio process and SSE stream hear it, and the server is
  // checked again (its first check is due at once: nothing in mcp:status).
  const std::set<std::string> want = {"changing command", "unwatched command",
                                      "stdio-everything list_changed",
                                      "sse-everything list_changed"};
  std::set<std::string> seen;
  sub.waitFor(
      [&](const Message& m) {
        if (m.channel == "mcp:health") {
          std::string key = field(m.payload, "server_id") + " " + field(m.payload, "trigger");
          if (want.count(key) != 0) {
            seen.insert(key);
          }
        }
        return seen == want;
      },
      30s);
  CHECK(seen == want);

  // A tool appears: the watched server is re-listed at once (the interval is 5 minutes), the
  // tools message names the new tool; the unwatched one waits for its schedule.
  const std::string watching = "server changing: watching for tools/list_changed";
  REQUIRE(waitForLog(daemon.logPath(), watching, 1, 15s));
  std::this_thread::sleep_for(200ms);  // the GET request reaches the server
  REQUIRE(changing.addTool("late"));
  auto relisted = sub.waitFor(healthOf("changing", "list_changed"), 10s);
  REQUIRE(relisted);
  Json h(relisted->payload);
  int64_t tools = 0;
  REQUIRE(h.root["tool_count"].get(tools) == simdjson::SUCCESS);
  CHECK(tools == 2);
  auto diff = sub.waitFor(
      [](const Message& m) {
        return m.channel == "mcp:tools" && field(m.payload, "server_id") == "changing";
      },
      10s);
  REQUIRE(diff);
  CHECK(diff->payload.find(R"("added":["late"])") != std::string::npos);
  CHECK_FALSE(sub.waitFor(healthOf("unwatched", "list_changed"), 1s));

  // The server restarts (its sessions are gone) with its first tool only, and says so to nobody:
  // the watch reconnects with backoff and re-lists at once (the interval is 5 minutes) ...
  changing.stop();
  changing.start();
  auto toolsOfChanging = [](const std::string& part) {
    return [part](const Message& m) {
      return m.channel == "mcp:tools" && field(m.payload, "server_id") == "changing" &&
             m.payload.find(part) != std::string::npos;
    };
  };
  REQUIRE(sub.waitFor(toolsOfChanging(R"("removed":["late"])"), 20s));
  CHECK(waitForLog(daemon.logPath(), watching, 2, 1s));
  // ... and hears the next change.
  REQUIRE(changing.addTool("later"));
  CHECK(sub.waitFor(toolsOfChanging(R"("added":["later"])"), 10s));

  // Every check ended its session; the watch keeps one, and DELETEs it when the daemon stops.
  CHECK(changing.sessions() == 1);
  auto rc = daemon.stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  CHECK(changing.sessions() == 0);
  CHECK(processesWithEnv("MCPHD_TEST_MARK=" + dir.path()).empty());
}
