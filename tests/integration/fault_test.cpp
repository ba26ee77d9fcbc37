#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

struct Expected {
  std::string id;
  std::string mode;  // fault server mode, or "" for a server configured by hand
  std::string status;
  std::string kind;  // "" for none
  int64_t httpStatus = -1;
  int64_t tools = -1;
  int64_t timeoutMs = 0;  // the server's own timeout, 0 for the default (kTimeoutMs)
};

// Every mode of the fault server, with what the daemon must publish for it (docs/PROTOCOL.md).
const std::vector<Expected> kFaults = {
    {"neighbour", "healthy?tools=20", "healthy", "", -1, 20},
    {"paged", "healthy?tools=7&pages=3", "healthy", "", -1, 7},
    {"many-tools", "many-tools", "healthy", "", -1, 10000},
    // Every answer 1 s late (initialize, initialized, tools/list): its own 6 s timeout keeps a
    // wide margin on a loaded machine (at 300 ms against the 800 ms default, CI saw it time out).
    {"slow-ok", "slow?ms=1000", "healthy", "", -1, 3, 6000},
    {"slow-timeout", "slow?ms=5000", "unhealthy", "timeout"},
    {"drip", "drip?ms=10", "unhealthy", "timeout"},
    {"silent", "silent", "unhealthy", "timeout"},
    {"unavailable", "status?code=503&retry_after=1", "unhealthy", "http", 503},
    {"server-error", "status?code=500", "unhealthy", "http", 500},
    {"unauthorized", "unauthorized", "unhealthy", "auth", 401},
    {"truncated", "truncated", "unhealthy", "protocol", 200},
    {"wrong-content-type", "wrong-content-type", "unhealthy", "protocol", 200},
    {"huge", "huge", "unhealthy", "protocol", 200},
    {"sse-never", "sse-never", "unhealthy", "timeout"},
    {"repeat-cursor", "repeat-cursor", "degraded", "protocol"},
    {"invalid-utf8", "invalid-utf8", "degraded", "protocol", 200},
    {"deep-json", "deep-json", "unhealthy", "protocol", 200},
    {"reset", "reset", "unhealthy", "connect"},
};

constexpr int64_t kTimeoutMs = 800;

int64_t timeoutOf(const Expected& e) { return e.timeoutMs > 0 ? e.timeoutMs : kTimeoutMs; }

double latencyMs(simdjson::dom::element e) {
  double v = -1;
  return e["latency_ms"]["total"].get(v) == simdjson::SUCCESS ? v : -1;
}

}  // namespace

TEST_CASE(
    "a config mixing stdio, SSE, Streamable HTTP and every fault mode: each gets its status "
    "and error kind in time, the healthy ones are unaffected, Redis can die meanwhile") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer faults(dir);
  EverythingServer legacy(dir, 0, "sse");
  EverythingServer modern(dir);
  Subscriber sub(redis.port(), {"mcp:health"});
  const std::string mark = "MCPHD_TEST_MARK=" + dir.path();

  std::vector<Expected> expected = kFaults;
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 1500ms",
                     "timeout: " + std::to_string(kTimeoutMs) + "ms",
                     "connect_timeout: 500ms",
                     "jitter: 0%",
                     "unhealthy_interval: 500ms",
                     "max_backoff: 1500ms",
                     "max_body: 1MiB"};
  for (const auto& e : kFaults) {
    ServerEntry entry{e.id, faults.url(e.id, e.mode), {"transport: streamable_http"}};
    if (e.timeoutMs > 0) {
      entry.extra.push_back("timeout: " + std::to_string(e.timeoutMs) + "ms");
      entry.extra.push_back("interval: " + std::to_string(2 * e.timeoutMs) + "ms");
    }
    config.servers.push_back(entry);
  }
  config.servers.push_back({"sse-everything", legacy.url(), {}});
  config.servers.push_back({"http-everything", modern.url(), {}});
  expected.push_back({"sse-everything", "", "healthy", "", -1, 13});
  expected.push_back({"http-everything", "", "healthy", "", -1, 13});
  // stdio servers start node: they get more time, on a loaded 2-core machine too.
  const std::vector<std::string> stdioEnv = {"env: {MCPHD_TEST_MARK: \"" + dir.path() + "\"}",
                                             "interval: 20s", "timeout: 10s"};
  ServerEntry stdio{
      "stdio-everything", "", {"command: node", "args: [\"" + everythingScript() + "\", stdio]"}};
  stdio.extra.insert(stdio.extra.end(), stdioEnv.begin(), stdioEnv.end());
  ServerEntry missing{"stdio-missing", "", {"command: no-such-server"}};
  missing.extra.insert(missing.extra.end(), stdioEnv.begin(), stdioEnv.end());
  config.servers.push_back(stdio);
  config.servers.push_back(missing);
  expected.push_back({"stdio-everything", "", "healthy", "", -1, 13});
  expected.push_back({"stdio-missing", "", "unhealthy", "spawn"});

  // Under AddressSanitizer freed memory sits in a quarantine (256 MiB by default), which would
  // read as growth: keep it small so RSS measures what the daemon holds. (Ignored otherwise.)
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asanOptions = std::string(asan != nullptr ? asan : "") +
                                  ":quarantine_size_mb=2:thread_local_quarantine_size_kb=64";
  TestDaemon daemon(dir, config, {}, {{"ASAN_OPTIONS", asanOptions}});
  INFO("daemon log: " << daemon.logPath());
  // What the daemon said last, for failures that are about what it did.
  auto logTail = [&] { return daemon.logTail(); };
  // First checks are spread over the interval: ask for all of them now.
  for (const auto& e : expected) {
    redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", e.id});
  }

  // 1. Every server's first result: the documented status and kind, within its timeout.
  std::map<std::string, std::string> first;
  std::vector<double> neighbourMs;
  auto collect = [&](std::chrono::milliseconds span, bool untilAllSeen) {
    auto deadline = Clock::now() + span;
    while (Clock::now() < deadline) {
      if (untilAllSeen && first.size() == expected.size()) {
        return;
      }
      auto m = sub.waitFor([](const Message& msg) { return msg.channel == "mcp:health"; },
                           std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::max(deadline - Clock::now(), Clock::duration(1ms))));
      if (!m) {
        continue;
      }
      Json j(m->payload);
      REQUIRE(j.ok);
      std::string id = str(j.root, "server_id");
      first.emplace(id, m->payload);
      if (id == "neighbour") {
        neighbourMs.push_back(latencyMs(j.root));
      }
    }
  };
  collect(30s, true);
  for (const auto& e : expected) {
    INFO("server " << e.id);
    REQUIRE(first.count(e.id) == 1);
    Json j(first[e.id]);
    INFO(first[e.id]);
    CHECK(str(j.root, "status") == e.status);
    CHECK(str(j.root["error"], "kind") == e.kind);
    CHECK(num(j.root["error"], "http_status") == e.httpStatus);
    CHECK(num(j.root, "tool_count") == e.tools);
    if (e.id.rfind("stdio", 0) != 0) {
      CHECK(latencyMs(j.root) < timeoutOf(e) + 200);  // decided within the server's timeout
    }
  }

  // 2. Rounds of checks go on: memory stays flat and the healthy neighbour stays fast.
  const long rssStart = residentKiB(daemon.pid());
  collect(6s, false);
  const long rssEnd = residentKiB(daemon.pid());
  REQUIRE(neighbourMs.size() >= 4);
  std::string all;  // in order
  for (double ms : neighbourMs) {
    all += (all.empty() ? "" : ", ") + std::to_string(ms);
  }
  // The first check runs while the daemon parses the 10,000-tool, 1 MiB and deeply nested answers
  // and four node servers start, on a 2-core machine: it measures the CPU left, not waiting (300,
  // 330, 450, 556 ms under the sanitizers with two more busy processes than cores). The rounds
  // after it run beside faults that still hold their checks (rechecked every 500 ms), without
  // that start-up storm: they are what tells waiting from CPU.
  const double firstMs = neighbourMs.front();
  std::vector<double> later(neighbourMs.begin() + 1, neighbourMs.end());
  std::sort(later.begin(), later.end());
  const double median = later[later.size() / 2];
  const double worst = later.back();
  WARN("healthy neighbour among the faults: first check "
       << firstMs << " ms, then " << later.size() << " checks, median " << median << " ms, worst "
       << worst << " ms (" << all << "); daemon RSS " << rssStart / 1024.0
       << " MiB after the first round, " << rssEnd / 1024.0 << " MiB 6 s later");
  // The neighbour shares the fault server's host and port with servers that hold every check
  // until its timeout (800 ms) or answer after 1 s: a neighbour that waited for one of them (a
  // per-host connection limit, a check queue, a blocking step) would take at least 800 ms. What
  // it may legitimately wait for is CPU: the loop parses the 10,000-tool and 1 MiB answers of its
  // faulty neighbours every round, and node servers start meanwhile (2-15 ms here; under the
  // sanitizers 7-110 ms with two more busy processes than cores, and in CI a median of 59 ms and
  // a worst of 170 ms). Both bounds stay far below the 800 ms of a neighbour that waited.
  CHECK(median < 200);
  CHECK(worst < 400);
  CHECK(rssEnd - rssStart < 16 * 1024);

  // 3. Redis dies while checks run, with a command delivered and not yet answered.
  auto command = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "silent"});
  REQUIRE(command);
  auto pending = [&] {
    auto r = redis.query({"EVAL", "return redis.call('XPENDING', KEYS[1], ARGV[1])[1]", "1",
                          "mcp:commands", "mcp-healthd"});
    return r ? std::stoll(*r) : -1;
  };
  auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline && pending() < 1) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(pending() >= 1);
  redis.stop();
  std::this_thread::sleep_for(1500ms);  // the silent check times out meanwhile
  REQUIRE(daemon.running());
  redis.start();
  // The state is refilled, and the result that answers the command is stored.
  deadline = Clock::now() + 15s;
  auto refilled = [&] {
    auto n = redis.query({"HLEN", "mcp:status"});
    auto silent = redis.query({"HGET", "mcp:status", "silent"});
    return n && std::stoll(*n) == static_cast<long long>(expected.size()) && silent &&
           silent->find(*command) != std::string::npos;
  };
  while (Clock::now() < deadline && !refilled()) {
    std::this_thread::sleep_for(100ms);
  }
  if (!refilled()) {
    FAIL_CHECK("mcp:status not refilled with the answer to "
               << *command << " in 15 s (HLEN " << redis.query({"HLEN", "mcp:status"}).value_or("?")
               << "); daemon log ends with:\n"
               << logTail());
  }
  // Commands work again on the new (empty) Redis: the stream and group are set up anew. (One
  // message first, so the subscriber is known to be back before the answer is published.)
  if (!sub.waitFor([](const Message& m) { return m.channel == "mcp:health"; }, 10s)) {
    FAIL("nothing published on mcp:health for 10 s after Redis came back; daemon log ends with:\n"
         << logTail());
  }
  auto again = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "neighbour"});
  REQUIRE(again);
  auto answer = sub.waitFor(
      [&](const Message& m) { return m.payload.find(*again) != std::string::npos; }, 15s);
  if (!answer) {
    FAIL("no answer to " << *again << "; daemon log ends with:\n" << logTail());
  }
  CHECK(str(Json(answer->payload).root, "status") == "healthy");

  // 4. It stops cleanly: exit 0 (no handle left open), no child process left.
  auto rc = daemon.stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  CHECK(processesWithEnv(mark).empty());
}
