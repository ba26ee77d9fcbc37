// When a server gets its first check: by its last published check, else at once.
#include <signal.h>

#include <catch2/catch.hpp>
#include <map>

#include "common/json_writer.hpp"
#include "harness.hpp"

using namespace mcphd;
using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

// Health messages by server id until `want` servers have one or `span` has passed; the time the
// last new one came, from `from`.
std::map<std::string, std::string> collect(Subscriber& sub, size_t want,
                                           std::chrono::milliseconds span, Clock::time_point from,
                                           std::chrono::milliseconds* lastAfter) {
  std::map<std::string, std::string> got;
  const auto deadline = Clock::now() + span;
  while (got.size() < want && Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto m = sub.waitFor([](const Message& msg) { return msg.channel == "mcp:health"; },
                         std::max(left, std::chrono::milliseconds(1)));
    if (!m) {
      continue;
    }
    Json j(m->payload);
    REQUIRE(j.ok);
    if (got.emplace(str(j.root, "server_id"), m->payload).second && lastAfter != nullptr) {
      *lastAfter = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - from);
    }
  }
  return got;
}

}  // namespace

TEST_CASE(
    "first checks: 200 never-seen servers are published within 3 s of start-up, and after a "
    "restart only the servers that are due are checked") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 60s", "timeout: 10s"};
  for (int i = 0; i < 200; ++i) {
    const std::string id = "s" + std::to_string(i);
    config.servers.push_back({id, fault.url(id, "healthy?tools=3"), {}});
  }
  Subscriber sub(redis.port(), {"mcp:health"});
  INFO("logs in " << dir.path());

  std::chrono::milliseconds last{0};
  {
    const auto started = Clock::now();
    TestDaemon daemon(dir, config, {}, {}, "first");
    auto got = collect(sub, 200, 20s, started, &last);
    WARN("200 never-seen servers at a 60 s interval: all published " << last.count()
                                                                     << " ms after start-up");
    REQUIRE(got.size() == 200);
    CHECK(last < 3s);
    for (const auto& [id, payload] : got) {
      INFO(payload);
      Json j(payload);
      CHECK(str(j.root, "trigger") == "startup");
      CHECK(str(j.root, "status") == "healthy");
    }
    REQUIRE(daemon.stop(SIGTERM, 10s) == std::optional<int>(0));
  }

  // Restarted: the 200 were checked seconds ago. One more server was never seen, and one has a
  // snapshot two minutes old (overdue): those two are due now, the 200 in about a minute.
  const auto now = std::chrono::system_clock::now();
  REQUIRE(
      redis.query({"HSET", "mcp:status", "overdue",
                   R"({"v":1,"type":"health","server_id":"overdue","seq":5,"status":"healthy",)"
                   R"("checked_at":")" +
                       json::rfc3339Millis(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               (now - 120s).time_since_epoch())
                                               .count()) +
                       R"(","consecutive_failures":0})"}));
  config.servers.push_back({"fresh", fault.url("fresh", "healthy?tools=1"), {}});
  config.servers.push_back({"overdue", fault.url("overdue", "healthy?tools=1"), {}});
  const auto restarted = Clock::now();
  TestDaemon daemon(dir, config, {}, {}, "restarted");
  auto got = collect(sub, 2, 20s, restarted, &last);
  REQUIRE(got.count("fresh") == 1);
  REQUIRE(got.count("overdue") == 1);
  CHECK(last < 3s);
  CHECK(str(Json(got["overdue"]).root, "trigger") == "startup");
  CHECK(num(Json(got["overdue"]).root, "seq") == 6);  // continues from the stored one
  // Nothing else for 5 s: the 200 are due a minute after their last check.
  auto more = collect(sub, 1, 5s, restarted, nullptr);
  CHECK(more.empty());
  REQUIRE(daemon.stop(SIGTERM, 10s) == std::optional<int>(0));
}
