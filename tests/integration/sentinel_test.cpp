// Redis Sentinel (redis.sentinels, redis.master_name): two real redis-servers and three real
// redis-sentinels. The master is killed; the daemon follows the failover and publishes to the new
// master soon after the sentinels switched, with every server's seq continuing.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;

namespace {

constexpr int kServers = 5;
const char* const kMaster = "mymaster";

// The port of the master a sentinel names (0: none).
int masterPort(const SentinelServer& s) {
  auto r = queryAllPort(s.port(), {"SENTINEL", "get-master-addr-by-name", kMaster});
  return r && r->size() == 2 ? std::atoi((*r)[1].c_str()) : 0;
}

// Per server, the seqs of the health messages in `messages`, in order.
void collectSeqs(const std::vector<std::string>& messages,
                 std::map<std::string, std::vector<int64_t>>& seqs) {
  for (const auto& m : messages) {
    Json j(m);
    if (j.ok && str(j.root, "type") == "health") {
      seqs[str(j.root, "server_id")].push_back(num(j.root, "seq"));
    }
  }
}

}  // namespace

TEST_CASE(
    "sentinel: the daemon and mcp-healthctl find the master through the sentinels, and after the "
    "master is killed the daemon publishes to the new one within 2 s of the switch, and seq "
    "continues") {
  TempDir dir;
  RedisServer master(dir, 0, {"--replica-announce-ip", "127.0.0.1"});
  RedisServer replica(dir, 0,
                      {"--replicaof", "127.0.0.1", std::to_string(master.port()),
                       "--replica-announce-ip", "127.0.0.1"});
  REQUIRE(waitUntil(
      [&] {
        auto info = replica.query({"INFO", "replication"});
        return info && info->find("master_link_status:up") != std::string::npos;
      },
      std::chrono::seconds(15)));
  std::vector<std::unique_ptr<SentinelServer>> sentinels;
  for (int i = 0; i < 3; ++i) {
    sentinels.push_back(std::make_unique<SentinelServer>(dir, kMaster, master.port(), 2));
  }
  // Until the sentinels know the replica and each other (hello messages every 2 s): only then
  // can they fail over.
  REQUIRE(waitUntil(
      [&] {
        for (const auto& s : sentinels) {
          auto quorum = queryPort(s->port(), {"SENTINEL", "CKQUORUM", kMaster});
          auto replicas = queryAllPort(s->port(), {"SENTINEL", "REPLICAS", kMaster});
          if (!quorum || quorum->rfind("OK 3 usable", 0) != 0 || !replicas || replicas->empty()) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(30)));

  FaultServer fault(dir);
  DaemonConfig c;  // no redis.url: the sentinels say where the master is
  // Checked every 500 ms: the first check after the switch comes well within the 2 s.
  c.defaults = {"interval: 500ms", "timeout: 400ms"};
  for (int i = 0; i < kServers; ++i) {
    const std::string name = "s-" + std::to_string(i);
    c.servers.push_back({name, fault.url(name, "healthy?tools=1"), {}});
  }
  c.extra = {"redis:", "  master_name: " + std::string(kMaster), "  sentinels:"};
  for (const auto& s : sentinels) {
    c.extra.push_back("    - \"" + s->address() + "\"");
  }
  Subscriber before(master.port(), {"mcp:health"});
  TestDaemon daemon(dir, c);
  INFO("log: " << daemon.logPath());
  REQUIRE(waitUntil(
      [&] {
        return master.query({"HLEN", "mcp:status"}) == std::to_string(kServers);
      },
      std::chrono::seconds(15)));

  // mcp-healthctl finds the master through the sentinels too.
  REQUIRE(runCtl(dir, {"--config", daemon.configPath(), "list"}, "ctl-before.txt") == 0);
  {
    std::ifstream in(dir.file("ctl-before.txt"));
    const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(out.find("s-0") != std::string::npos);
  }

  // What the old master published, until it dies.
  std::vector<std::string> old;
  before.waitFor(
      [&](const Message& m) {
        old.push_back(m.payload);
        return false;
      },
      std::chrono::milliseconds(2500));
  master.stop();  // kill -9
  const auto killed = Clock::now();
  REQUIRE(waitUntil(
      [&] {
        return std::all_of(sentinels.begin(), sentinels.end(),
                           [&](const auto& s) { return masterPort(*s) == replica.port(); });
      },
      std::chrono::seconds(30)));
  const auto switched = Clock::now();
  INFO("the sentinels switched "
       << std::chrono::duration_cast<std::chrono::milliseconds>(switched - killed).count()
       << " ms after the kill");
  // The new master no longer replicates anything: every message on it is the daemon's.
  Subscriber after(replica.port(), {"mcp:health"});
  std::vector<std::string> fresh;
  auto first = after.waitFor([](const Message&) { return true; }, std::chrono::milliseconds(2000));
  const auto published = Clock::now();
  REQUIRE(first);
  INFO("published to the new master "
       << std::chrono::duration_cast<std::chrono::milliseconds>(published - switched).count()
       << " ms after the switch");
  WARN("the sentinels switched "
       << std::chrono::duration_cast<std::chrono::milliseconds>(switched - killed).count()
       << " ms after the kill; the daemon published to the new master "
       << std::chrono::duration_cast<std::chrono::milliseconds>(published - switched).count()
       << " ms after the switch");
  fresh.push_back(first->payload);
  after.waitFor(
      [&](const Message& m) {
        fresh.push_back(m.payload);
        return false;
      },
      std::chrono::milliseconds(3000));

  // seq continues: per server, strictly increasing across the failover.
  std::map<std::string, std::vector<int64_t>> seqs;
  collectSeqs(old, seqs);
  std::map<std::string, size_t> beforeCount;
  for (const auto& [server, list] : seqs) {
    beforeCount[server] = list.size();
  }
  collectSeqs(fresh, seqs);
  REQUIRE(seqs.size() == kServers);
  for (const auto& [server, list] : seqs) {
    INFO(server);
    CHECK(beforeCount[server] > 0);
    CHECK(list.size() > beforeCount[server]);  // checked on both sides of the failover
    for (size_t i = 1; i < list.size(); ++i) {
      CHECK(list[i] > list[i - 1]);
    }
  }
  CHECK(replica.query({"HLEN", "mcp:status"}) == std::to_string(kServers));
  CHECK(waitForLog(daemon.logPath(), "switched master 'mymaster'", 1, std::chrono::seconds(1)));
  // Connections the daemon does not use here (no cluster, no dashboard) stay closed, switch or
  // not.
  for (const char* unused :
       {"redis cluster:", "redis control:", "redis events:", "redis dashboard:"}) {
    INFO(unused);
    CHECK_FALSE(waitForLog(daemon.logPath(), unused, 1, std::chrono::milliseconds(0)));
  }

  // And mcp-healthctl after it.
  REQUIRE(runCtl(dir, {"--config", daemon.configPath(), "list"}, "ctl-after.txt") == 0);
}
