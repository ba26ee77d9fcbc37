#include <catch2/catch.hpp>
#include <map>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

std::string stringAt(const Json& j, const char* key, const char* inner = nullptr) {
  std::string_view v;
  auto e = j.root[key];
  if (inner != nullptr) {
    e = e[inner];
  }
  return e.get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

}  // namespace

TEST_CASE(
    "SSE polling: a server that ends its response streams early is healthy with every tool "
    "listed, resumed with Last-Event-ID, and without event ids a protocol error says why") {
  TempDir dir;
  RedisServer redis(dir);
  SsePollingServer peer(dir);
  Subscriber sub(redis.port(), {"mcp:health"});
  DaemonConfig config;
  config.redisUrl = redis.url();
  // Each of the 3 pages: the stream closed at once, resumed after 200 ms, answered after 600.
  config.defaults = {"interval: 5m", "timeout: 10s", "jitter: 0%"};
  config.servers = {{"polled", peer.url(), {}}, {"noid", peer.noIdUrl(), {}}};
  TestDaemon daemon(dir, config);
  INFO("daemon log: " << daemon.logPath());
  // The first health message of each, in whatever order they come.
  std::map<std::string, std::string> first;
  sub.waitFor(
      [&](const Message& m) {
        Json j(m.payload);
        if (j.ok) {
          first.emplace(stringAt(j, "server_id"), m.payload);
        }
        return first.count("polled") != 0 && first.count("noid") != 0;
      },
      30s);
  REQUIRE(first.count("polled") == 1);
  REQUIRE(first.count("noid") == 1);
  auto healthOf = [&](const std::string& id) { return first[id]; };
  {
    Json polled(healthOf("polled"));
    REQUIRE(polled.ok);
    CHECK(stringAt(polled, "status") == "healthy");
    int64_t tools = 0;
    CHECK(polled.root["tool_count"].get(tools) == simdjson::SUCCESS);
    CHECK(tools == 12);  // every page
    CHECK(polled.root["error"].is_null());
  }
  // Every page's stream was resumed (the server answers on no other way).
  CHECK(peer.resumes() >= 3);
  {
    Json noid(healthOf("noid"));
    REQUIRE(noid.ok);
    CHECK(stringAt(noid, "status") != "healthy");
    CHECK(stringAt(noid, "error", "kind") == "protocol");
    CHECK(stringAt(noid, "error", "message") ==
          "SSE stream ended without the response during tools/list, not resumed: the stream gave "
          "no event id to resume it from");
  }
}

TEST_CASE(
    "SSE polling: a watch whose GET stream the server ends after a notification resumes it on "
    "the same session with Last-Event-ID, and hears the next notification there") {
  TempDir dir;
  RedisServer redis(dir);
  SsePollingServer peer(dir);
  Subscriber sub(redis.port(), {"mcp:health"});
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 5m", "timeout: 10s", "jitter: 0%", "watch_tools: true"};
  config.servers = {{"polled", peer.url(), {}}};
  TestDaemon daemon(dir, config);
  INFO("daemon log: " << daemon.logPath());
  const std::string watching = "server polled: watching for tools/list_changed";
  REQUIRE(waitForLog(daemon.logPath(), watching, 1, 30s));
  auto listChanged = [](const Message& m) {
    Json j(m.payload);
    return j.ok && stringAt(j, "server_id") == "polled" && stringAt(j, "trigger") == "list_changed";
  };
  // Sends a notification (and ends the GET stream after it, with `close`) once the watch's GET
  // stream is open at the server: the log says "watching" when the GET is sent, not answered.
  auto notifyOpenStream = [&](bool close) {
    return waitUntil(
        [&] {
          const int delivered = peer.notify(close);
          if (delivered < 1) {
            std::this_thread::sleep_for(100ms);
          }
          return delivered >= 1;
        },
        15s);
  };
  // A notification, then the server ends the GET stream.
  REQUIRE(notifyOpenStream(/*close=*/true));
  REQUIRE(sub.waitFor(listChanged, 20s));
  // The stream is resumed from the notification's event id, on the same session ...
  CHECK(waitUntil([&] { return peer.streamResumes() >= 1; }, 15s));
  // ... where the next notification arrives (a re-list waits 5 s after the one before).
  REQUIRE(notifyOpenStream(/*close=*/false));
  CHECK(sub.waitFor(listChanged, 20s));
  // Never a new session: the watch did not end and reconnect.
  const std::string log = readFile(daemon.logPath());
  CHECK(log.find("watch ended") == std::string::npos);
  CHECK(waitForLog(daemon.logPath(), watching, 1, 1s));
  CHECK_FALSE(waitForLog(daemon.logPath(), watching, 2, 1s));
}
