// Bounded under floods: 10,000 `check *` commands for 1,000 servers.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <set>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

TEST_CASE(
    "ten thousand check-all commands for a thousand servers: every one answered, small "
    "messages, bounded memory") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 10m", "timeout: 20s"};
  for (int i = 0; i < 1000; ++i) {
    std::string id = "s" + std::to_string(i);
    config.servers.push_back({id, fault.url(id, "healthy?tools=3"), {}});
  }
  // Written before the daemon starts: all of them wait in the stream.
  REQUIRE(redis.query({"EVAL",
                       "for i = 1, 10000 do redis.call('XADD', KEYS[1], '*', 'op', 'check', "
                       "'server_id', '*') end return redis.call('XLEN', KEYS[1])",
                       "1", "mcp:commands"}) == std::optional<std::string>("10000"));
  Subscriber sub(redis.port(), {"mcp:health"});
  // Under AddressSanitizer freed memory sits in a quarantine (256 MiB by default), which would
  // read as the daemon's own: kept small here, so RSS measures what the daemon holds.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asanOptions = std::string(asan != nullptr ? asan : "") +
                                  ":quarantine_size_mb=2:thread_local_quarantine_size_kb=64";
  TestDaemon daemon(dir, config, {}, {{"ASAN_OPTIONS", asanOptions}});
  INFO("logs in " << dir.path());
  std::set<std::string> done;
  size_t health = 0;
  size_t largest = 0;
  long peakKiB = 0;
  bool badServers = false;
  auto deadline = Clock::now() + 300s;
  while (done.size() < 10000 && Clock::now() < deadline) {
    auto m = sub.waitFor([](const Message&) { return true; }, 30s);
    if (!m) {
      break;
    }
    largest = std::max(largest, m->payload.size());
    Json j(m->payload);
    REQUIRE(j.ok);
    const std::string type = str(j.root, "type");
    if (type == "command_done") {
      done.insert(str(j.root, "command_id"));
      badServers = badServers || num(j.root, "servers") != 1000;
    } else if (type == "health") {
      ++health;
    }
    if ((health + done.size()) % 500 == 0) {
      peakKiB = std::max(peakKiB, residentKiB(daemon.pid()));
    }
  }
  peakKiB = std::max(peakKiB, residentKiB(daemon.pid()));
  CHECK(done.size() == 10000);
  CHECK_FALSE(badServers);
  CHECK(health >= 1000);
  CHECK(largest < 4096);
  CHECK(peakKiB < 128 * 1024);
  WARN("10,000 check * of 1,000 servers: " << health << " health messages, largest " << largest
                                           << " bytes, peak RSS " << peakKiB / 1024 << " MiB");
  CHECK(daemon.stop(SIGTERM, 10s) == std::optional<int>(0));
}

TEST_CASE("a tool list over max_tools or max_tools_bytes is a protocol error, not memory") {
  TempDir dir;
  FaultServer fault(dir);
  DaemonConfig config;
  config.defaults = {"interval: 1m", "timeout: 30s"};
  config.servers = {{"fat", fault.url("fat", "fat-pages?pages=64&kb=1024"), {}},
                    {"many", fault.url("many", "healthy?tools=50&pages=5"), {"max_tools: 20"}},
                    {"fits", fault.url("fits", "healthy?tools=20&pages=2"), {"max_tools: 20"}}};
  TestDaemon once(dir, config, {"--once"}, {}, "once");
  auto rc = once.process().wait(60s);
  REQUIRE(rc);
  const std::string out = readFile(once.logPath());
  INFO(out);
  CHECK(out.find(R"("server_id":"fat","seq":1,"status":"degraded")") != std::string::npos);
  CHECK(out.find("tools/list returned more than max_tools_bytes (16 MiB) of tool definitions") !=
        std::string::npos);
  CHECK(out.find(R"("server_id":"many","seq":1,"status":"degraded")") != std::string::npos);
  CHECK(out.find("tools/list returned more than max_tools (20) tools") != std::string::npos);
  CHECK(out.find(R"("server_id":"fits","seq":1,"status":"healthy")") != std::string::npos);
}
