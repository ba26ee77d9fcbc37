// Redis Sentinel's faults, with fake sentinels (tests/peers/fake-sentinel.mjs) that name the
// master they are told to, and two real redis-servers: a sentinel that never answers, one that
// names a replica (ROLE), a master that becomes a replica without an announcement (READONLY),
// and sentinels that are down when the daemon starts.
#include <catch2/catch.hpp>
#include <map>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

constexpr int kServers = 3;

// A fake sentinel on a free port naming the master at `masterPort`; `hangAsk`: it never answers
// get-master-addr-by-name.
std::unique_ptr<Process> fakeSentinel(const TempDir& dir, int port, int masterPort,
                                      bool hangAsk = false, int pingDelayMs = 0) {
  std::map<std::string, std::string> env = {{"PORT", std::to_string(port)},
                                            {"MASTER_NAME", "mymaster"},
                                            {"MASTER_PORT", std::to_string(masterPort)}};
  if (hangAsk) {
    env["HANG_ASK"] = "1";
  }
  if (pingDelayMs > 0) {
    env["PING_DELAY_MS"] = std::to_string(pingDelayMs);
  }
  auto p = std::make_unique<Process>(
      std::vector<std::string>{"node", std::string(MCPHD_PEERS_DIR) + "/fake-sentinel.mjs"}, env,
      dir.file("sentinel-" + std::to_string(port) + ".log"));
  if (!waitForPort(port, 30s)) {
    throw std::runtime_error("fake-sentinel.mjs did not start");
  }
  return p;
}

DaemonConfig sentinelConfig(const FaultServer& fault, const std::vector<int>& sentinelPorts) {
  DaemonConfig c;  // no redis.url: the sentinels say where the master is
  c.defaults = {"interval: 500ms", "timeout: 400ms"};
  for (int i = 0; i < kServers; ++i) {
    const std::string name = "s-" + std::to_string(i);
    c.servers.push_back({name, fault.url(name, "healthy?tools=1"), {}});
  }
  c.extra = {"redis:", "  master_name: mymaster", "  sentinels:"};
  for (int port : sentinelPorts) {
    c.extra.push_back("    - \"127.0.0.1:" + std::to_string(port) + "\"");
  }
  return c;
}

bool isHealth(const Message& m) {
  return m.payload.find("\"type\":\"health\"") != std::string::npos;
}

}  // namespace

TEST_CASE(
    "sentinel faults: a sentinel that never answers is passed over within a second, one that "
    "names a replica is distrusted (ROLE), and a master that turns replica unannounced is left "
    "at its first refused write (READONLY)") {
  TempDir dir;
  RedisServer a(dir, 0, {"--replica-announce-ip", "127.0.0.1"});
  RedisServer b(
      dir, 0,
      {"--replicaof", "127.0.0.1", std::to_string(a.port()), "--replica-announce-ip", "127.0.0.1"});
  REQUIRE(waitUntil(
      [&] {
        auto info = b.query({"INFO", "replication"});
        return info && info->find("master_link_status:up") != std::string::npos;
      },
      15s));
  // Asked in this order: hung, then one naming the replica b, then one naming the master a.
  const int hungPort = freePort();
  const int laggingPort = freePort();
  const int goodPort = freePort();
  // (the other two answer PING 300 ms late: the hung one is ready first, so it is the one asked
  // first, whatever order the connections come up in)
  auto hung = fakeSentinel(dir, hungPort, a.port(), /*hangAsk=*/true);
  auto lagging = fakeSentinel(dir, laggingPort, b.port(), false, 300);
  auto good = fakeSentinel(dir, goodPort, a.port(), false, 300);
  FaultServer fault(dir);
  Subscriber onA(a.port(), {"mcp:health"});
  TestDaemon daemon(dir, sentinelConfig(fault, {hungPort, laggingPort, goodPort}));
  INFO("log: " << daemon.logPath());

  // The daemon publishes to a, having passed over the hung sentinel and distrusted b.
  REQUIRE(onA.waitFor(isHealth, 20s));
  // ... before the hung sentinel's connection timed out (5 s): the ask moved on by itself, it
  // did not wait for that connection to fail.
  const std::string hungTimeout = "sentinel 127.0.0.1:" + std::to_string(hungPort) +
                                  ": closing the connection: a command got no reply";
  CHECK_FALSE(waitForLog(daemon.logPath(), hungTimeout, 1, 0ms));
  const std::string bPort = std::to_string(b.port());
  // (the daemon names a server by its URL: redis://127.0.0.1:<port>/0 (master 'mymaster' ...))
  auto named = [](int port) {
    return ":" + std::to_string(port) + "/0 (master 'mymaster' of the sentinels) is a ";
  };
  CHECK(waitForLog(daemon.logPath(), named(b.port()) + "slave, not the master", 1, 0ms));
  auto asked = queryAllPort(hungPort, {"FAKE-STATS"});
  REQUIRE(asked);
  REQUIRE(asked->size() == 2);
  CHECK(std::atoi((*asked)[1].c_str()) >= 1);  // it was asked, and never answered

  // a turns replica of b, and the sentinels name b without announcing it: the daemon's next
  // write to a is refused (READONLY), and it goes to b.
  REQUIRE(b.query({"REPLICAOF", "NO", "ONE"}) == "OK");
  REQUIRE(b.query({"DEL", "mcp:status"}) ==
          "1");  // (replicated from a: only the daemon refills it)
  REQUIRE(a.query({"REPLICAOF", "127.0.0.1", bPort}) == "OK");
  for (int port : {laggingPort, goodPort}) {
    REQUIRE(queryPort(port, {"FAKE-MASTER", "127.0.0.1", bPort}) == "OK");
  }
  Subscriber onB(b.port(), {"mcp:health"});
  REQUIRE(onB.waitFor(isHealth, 20s));
  CHECK(waitForLog(daemon.logPath(), named(a.port()) + "replica now (READONLY)", 1, 0ms));
  CHECK(waitUntil(
      [&] {
        return b.query({"HLEN", "mcp:status"}) == std::to_string(kServers);
      },
      10s));
}

TEST_CASE(
    "sentinel faults: with every sentinel down at start the daemon says what to check, keeps "
    "asking, and publishes once one is up") {
  TempDir dir;
  RedisServer a(dir);
  const int first = freePort();
  const int second = freePort();
  FaultServer fault(dir);
  Subscriber onA(a.port(), {"mcp:health"});
  TestDaemon daemon(dir, sentinelConfig(fault, {first, second}));
  INFO("log: " << daemon.logPath());
  REQUIRE(waitForLog(daemon.logPath(),
                     "no sentinel of redis.sentinels named the master 'mymaster' within 3 s", 1,
                     20s));
  CHECK(waitForLog(daemon.logPath(), "check redis.sentinels and redis.master_name", 1, 0ms));
  CHECK_FALSE(onA.waitFor(isHealth, 500ms));
  auto up = fakeSentinel(dir, second, a.port());
  REQUIRE(onA.waitFor(isHealth, 20s));
  CHECK(waitUntil(
      [&] {
        return a.query({"HLEN", "mcp:status"}) == std::to_string(kServers);
      },
      10s));
}
