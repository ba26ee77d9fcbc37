// Several daemons on one Redis (cluster.enabled): ownership. Three members share 300 servers
// declared the same way in their config files; each server is checked by one member, at its
// interval, with one unbroken seq, across a kill -9 and a restart.
#include <signal.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "common/json_writer.hpp"
#include "harness.hpp"

using namespace mcphd::itest;

namespace {

constexpr int kServers = 300;
constexpr int64_t kIntervalMs = 2000;
constexpr int64_t kJitterMs = 200;  // 10 % of the interval
constexpr int64_t kTtlMs = 2000;

DaemonConfig memberConfig(const RedisServer& redis, const FaultServer& fault,
                          const std::string& id) {
  DaemonConfig c;
  c.redisUrl = redis.url();
  c.defaults = {"interval: 2s", "timeout: 1s", "jitter: 10%"};
  for (int i = 0; i < kServers; ++i) {
    const std::string name = "srv-" + std::to_string(i);
    c.servers.push_back({name, fault.url(name, "healthy?tools=1"), {}});
  }
  c.extra = {"cluster:", "  enabled: true", "  member_id: " + id, "  heartbeat: 500ms",
             "  member_ttl: 2s"};
  return c;
}

struct Check {
  int64_t seq = 0;
  std::string by;
  std::string trigger;
  int64_t checkedAtMs = 0;
};

int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every health message on mcp:health, per server.
struct Observed {
  std::map<std::string, std::vector<Check>> checks;
  size_t messages = 0;
  std::vector<int64_t> toolsAtMs;  // when each tools message arrived (wall clock)

  void collect(Subscriber& sub, std::chrono::milliseconds during) {
    sub.waitFor(
        [&](const Message& m) {
          if (m.channel == "mcp:tools") {
            toolsAtMs.push_back(wallMs());
            return false;
          }
          Json j(m.payload);
          if (!j.ok || str(j.root, "type") != "health") {
            return false;
          }
          Check c;
          c.seq = num(j.root, "seq");
          c.by = str(j.root, "checked_by");
          c.trigger = str(j.root, "trigger");
          auto at = mcphd::json::parseRfc3339Millis(str(j.root, "checked_at"));
          c.checkedAtMs = at ? *at : 0;
          checks[str(j.root, "server_id")].push_back(c);
          ++messages;
          return false;
        },
        during);
  }
  // Checks of `server` from `fromMs` on.
  std::vector<Check> since(const std::string& server, int64_t fromMs) const {
    std::vector<Check> out;
    auto it = checks.find(server);
    if (it != checks.end()) {
      for (const auto& c : it->second) {
        if (c.checkedAtMs >= fromMs) {
          out.push_back(c);
        }
      }
    }
    return out;
  }
};

// The owned counts the members announce, by member id.
std::map<std::string, int64_t> ownedCounts(const RedisServer& redis,
                                           const std::vector<std::string>& members) {
  std::map<std::string, int64_t> out;
  for (const auto& m : members) {
    if (auto v = redis.query({"HGET", "mcp:member:" + m, "owned"})) {
      out[m] = std::stoll(*v);
    }
  }
  return out;
}

bool shared(const RedisServer& redis, const std::vector<std::string>& members) {
  auto owned = ownedCounts(redis, members);
  int64_t sum = 0;
  for (const auto& m : members) {
    if (owned[m] == 0) {
      return false;
    }
    sum += owned[m];
  }
  return sum == kServers;
}

}  // namespace

TEST_CASE(
    "cluster: 3 members share 300 servers, each checked by one member at its interval with one "
    "seq, across a kill -9 and a restart") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  Subscriber sub(redis.port(), {"mcp:health", "mcp:tools"});
  const std::vector<std::string> ids = {"member-a", "member-b", "member-c"};
  TestDaemon a(dir, memberConfig(redis, fault, ids[0]), {}, {}, "a");
  TestDaemon b(dir, memberConfig(redis, fault, ids[1]), {}, {}, "b");
  auto c = std::make_unique<TestDaemon>(dir, memberConfig(redis, fault, ids[2]),
                                        std::vector<std::string>{},
                                        std::map<std::string, std::string>{}, "c");
  INFO("logs: " << a.logPath() << " " << b.logPath() << " " << c->logPath());
  Observed seen;
  // Steady: every member owns a share, every server has a status.
  const auto started = Clock::now();
  while (!(shared(redis, ids) && redis.query({"HLEN", "mcp:status"}) == std::to_string(kServers))) {
    REQUIRE(a.running());
    REQUIRE(b.running());
    REQUIRE(c->running());
    if (Clock::now() - started > std::chrono::seconds(30)) {
      std::string owned;
      for (const auto& [m, n] : ownedCounts(redis, ids)) {
        owned += m + "=" + std::to_string(n) + " ";
      }
      FAIL("not shared: owned " << owned << "status " << *redis.query({"HLEN", "mcp:status"})
                                << "\nA: " << a.logTail(1500) << "\nC: " << c->logTail(1500));
    }
    seen.collect(sub, std::chrono::milliseconds(200));
  }
  seen.collect(sub, std::chrono::milliseconds(kIntervalMs + kJitterMs));

  // 10 intervals: every server checked by one member, 10 ± 1 times, seq without gap or repeat.
  const int64_t windowFrom = wallMs();
  seen.collect(sub, std::chrono::milliseconds(10 * kIntervalMs));
  const int64_t windowTo = wallMs();
  std::map<std::string, std::string> ownerBefore;
  std::map<std::string, size_t> perMember;
  for (int i = 0; i < kServers; ++i) {
    const std::string server = "srv-" + std::to_string(i);
    std::vector<Check> checks;
    for (const auto& ch : seen.since(server, windowFrom)) {
      if (ch.checkedAtMs < windowTo) {
        checks.push_back(ch);
      }
    }
    INFO("server " << server);
    REQUIRE(!checks.empty());
    std::set<std::string> by;
    for (size_t k = 0; k < checks.size(); ++k) {
      by.insert(checks[k].by);
      if (k > 0) {
        CHECK(checks[k].seq == checks[k - 1].seq + 1);
        // Each check is due an interval (plus jitter) after the one before, whoever made it: a
        // double check, or a hand-over that did not wait for the due time, comes sooner. (One
        // host's clock stamps them all; 50 ms covers the rounding.)
        CHECK(checks[k].checkedAtMs - checks[k - 1].checkedAtMs >= kIntervalMs - 50);
      }
    }
    CHECK(by.size() == 1);
    CHECK(checks.size() >= 9);
    CHECK(checks.size() <= 11);
    ownerBefore[server] = checks.front().by;
    ++perMember[checks.front().by];
  }
  CHECK(perMember.size() == 3);  // about 100 each
  for (const auto& [m, n] : perMember) {
    CHECK(n >= 50);
  }

  // kill -9 of member-c: its servers are checked by the others within member_ttl + one interval
  // (and a second of slack for a loaded machine), seq going on from where member-c left it.
  const int64_t killedAt = wallMs();
  REQUIRE(c->stop(SIGKILL, std::chrono::seconds(5)));
  seen.collect(sub, std::chrono::milliseconds(kTtlMs + 2 * kIntervalMs + 3000));
  size_t handedOver = 0;
  for (const auto& [server, owner] : ownerBefore) {
    if (owner != "member-c") {
      continue;
    }
    INFO("server " << server);
    const auto& all = seen.checks[server];
    auto firstAfter = std::find_if(all.begin(), all.end(), [&](const Check& ch) {
      return ch.by != "member-c" && ch.checkedAtMs >= killedAt;
    });
    REQUIRE(firstAfter != all.end());
    CHECK(firstAfter->checkedAtMs - killedAt <= kTtlMs + kIntervalMs + kJitterMs + 1000);
    CHECK(firstAfter->trigger == "handover");
    REQUIRE(firstAfter != all.begin());
    CHECK(firstAfter->seq == (firstAfter - 1)->seq + 1);
    ++handedOver;
  }
  CHECK(handedOver >= 50);

  // member-c is back: the servers rebalance to where they were, with no double check.
  c = std::make_unique<TestDaemon>(dir, memberConfig(redis, fault, ids[2]),
                                   std::vector<std::string>{}, std::map<std::string, std::string>{},
                                   "c");
  const auto back = Clock::now();
  while (!shared(redis, ids)) {
    REQUIRE(Clock::now() - back < std::chrono::seconds(15));
    seen.collect(sub, std::chrono::milliseconds(200));
  }
  seen.collect(sub, std::chrono::milliseconds(3 * kIntervalMs));
  for (const auto& [server, owner] : ownerBefore) {
    INFO("server " << server);
    const auto& all = seen.checks[server];
    // From the last check before the kill on: consecutive seqs, every check due an interval
    // after the one before (the hand-overs too), and the last ones by the owner it had before.
    auto from = std::find_if(all.begin(), all.end(),
                             [&](const Check& ch) { return ch.checkedAtMs >= killedAt; });
    if (from != all.begin()) {
      --from;
    }
    for (auto it = from + 1; it < all.end(); ++it) {
      CHECK(it->seq == (it - 1)->seq + 1);
      CHECK(it->checkedAtMs - (it - 1)->checkedAtMs >= kIntervalMs - 50);
    }
    REQUIRE(!all.empty());
    CHECK(all.back().by == owner);
  }
  // The tools never changed: the members that took servers over (after the kill, after the
  // restart) announced none again.
  CHECK(std::count_if(seen.toolsAtMs.begin(), seen.toolsAtMs.end(),
                      [&](int64_t at) { return at >= killedAt; }) == 0);
}
