#include "cluster/membership.hpp"

#include <catch2/catch.hpp>

#include "loop/sim_loop.hpp"
#include "redis/fake_redis.hpp"

using namespace mcphd;
using mcphd::testing::FakeRedis;

namespace {

struct Fixture {
  loop::SimLoop loop;
  FakeRedis redis;
  std::unique_ptr<cluster::Membership> member;
  std::vector<std::vector<std::string>> changes;
  std::vector<cluster::ClusterView> views;

  explicit Fixture(size_t maxMembers = 1000) {
    cluster::MembershipOptions o;
    o.memberId = "m-self";
    o.heartbeatMs = 2000;
    o.memberTtlMs = 6000;
    o.startedAtWallMs = 1'799'999'000'000;
    o.version = "9.9";
    o.maxMembers = maxMembers;
    member = std::make_unique<cluster::Membership>(redis, loop, keyspace::Keyspace("mcp:"), o);
    member->setOwned([] { return size_t{7}; });
    member->onChange([this](const cluster::ClusterView& v) {
      changes.push_back(v.members);
      views.push_back(v);
    });
  }
  size_t heartbeats() const {
    size_t n = 0;
    for (const auto& c : redis.log) {
      n += (c[0] == "EVAL" || c[0] == "EVALSHA") &&
                   c[1].find("member config") == std::string::npos && c[3] == "mcp:members"
               ? 1
               : 0;
    }
    return n;
  }
};

}  // namespace

TEST_CASE("a member announces itself every heartbeat on Redis's clock and learns who is live") {
  Fixture f;
  const double t0 = static_cast<double>(f.redis.timeMs);
  f.redis.zsets["mcp:members"]["m-other"] = t0 + 3000;  // heard of 3 s before it expires
  f.redis.zsets["mcp:members"]["m-gone"] = t0 - 1;      // expired
  f.redis.setUp(true);
  f.member->start();
  REQUIRE(f.heartbeats() == 1);  // at once
  CHECK(f.member->members() == std::vector<std::string>{"m-other", "m-self"});
  CHECK(f.redis.zsets["mcp:members"].count("m-gone") == 0);  // dropped by whoever beats next
  CHECK(f.redis.zsets["mcp:members"]["m-self"] == t0 + 6000);
  auto& h = f.redis.hashes["mcp:member:m-self"];
  CHECK(h["owned"] == "7");
  CHECK(h["version"] == "9.9");
  CHECK(h["started_at"] == "1799999000000");
  CHECK(h["heartbeat_at"] == std::to_string(f.redis.timeMs));
  REQUIRE(f.changes.size() == 1);

  // Every heartbeat: the same members, no change reported.
  f.redis.timeMs += 2000;
  f.loop.advance(2000);
  CHECK(f.heartbeats() == 2);
  CHECK(f.changes.size() == 1);
  CHECK(f.redis.zsets["mcp:members"]["m-self"] == t0 + 8000);

  // m-other's announcement expires: gone at the next heartbeat.
  f.redis.timeMs += 2000;
  f.loop.advance(2000);
  CHECK(f.member->members() == std::vector<std::string>{"m-self"});
  REQUIRE(f.changes.size() == 2);
}

TEST_CASE("what is not a member id in the members set is ignored, and at most maxMembers read") {
  Fixture f(5);
  const double later = static_cast<double>(f.redis.timeMs) + 60'000;
  for (const char* junk : {"a b", "", "x\ny", "<script>"}) {
    f.redis.zsets["mcp:members"][junk] = later;
  }
  for (int i = 0; i < 20; ++i) {
    f.redis.zsets["mcp:members"]["z-" + std::to_string(i)] = later + i;
  }
  f.redis.setUp(true);
  f.member->start();
  // Ours expires first (6 s): read first; then the 4 junk entries fill the rest of the 5.
  CHECK(f.member->members() == std::vector<std::string>{"m-self"});
}

TEST_CASE(
    "a heartbeat not yet answered is not sent again, and one that fails is logged, not fatal") {
  Fixture f;
  f.redis.setUp(true);
  f.redis.holdReplies = true;
  f.member->start();
  f.loop.advance(2000);
  f.loop.advance(2000);
  CHECK(f.heartbeats() == 1);
  f.redis.release();
  f.loop.advance(2000);
  CHECK(f.heartbeats() == 2);
  f.redis.holdReplies = false;
  f.redis.release();

  f.redis.strings["mcp:members"] = "not a sorted set";  // whoever writes Redis
  f.loop.advance(2000);
  CHECK(f.member->members() == std::vector<std::string>{"m-self"});  // the last known
  f.redis.strings.erase("mcp:members");
  f.loop.advance(2000);
  CHECK(f.redis.zsets["mcp:members"].count("m-self") == 1);
}

TEST_CASE("a member that leaves withdraws its announcement at once and beats no more") {
  Fixture f;
  f.redis.setUp(true);
  f.member->start();
  REQUIRE(f.redis.zsets["mcp:members"].count("m-self") == 1);
  bool done = false;
  f.member->leave([&] { done = true; });
  CHECK(done);
  CHECK(f.redis.zsets["mcp:members"].count("m-self") == 0);
  CHECK(f.redis.hashes.count("mcp:member:m-self") == 0);
  const size_t beats = f.heartbeats();
  f.loop.advance(10'000);
  CHECK(f.heartbeats() == beats);

  Fixture away;  // not connected: done at once
  away.member->start();
  bool awayDone = false;
  away.member->leave([&] { awayDone = true; });
  CHECK(awayDone);
}

TEST_CASE("members learn which of their config servers the others declare with the same settings") {
  Fixture f;
  // Another member, announced with a config of its own (as its heartbeat would have).
  const std::map<std::string, std::string> mine = {{"a", "da"}, {"b", "db"}, {"c", "dc"}};
  std::map<std::string, std::string> theirs = {{"a", "da"}, {"b", "other"}, {"z", "dz"}};
  const double t0 = static_cast<double>(f.redis.timeMs);
  f.redis.zsets["mcp:members"]["m-other"] = t0 + 60'000;
  f.redis.zsets["mcp:members"]["m-twin"] = t0 + 60'000;
  f.redis.hashes["mcp:member-config:m-other"] = {theirs.begin(), theirs.end()};
  f.redis.hashes["mcp:member:m-other"]["config"] = cluster::configSummary(theirs);
  f.redis.hashes["mcp:member-config:m-twin"] = {mine.begin(), mine.end()};
  f.redis.hashes["mcp:member:m-twin"]["config"] = cluster::configSummary(mine);
  f.member->setConfig(mine);
  f.redis.setUp(true);
  f.member->start();

  // Ours is written before the heartbeat that announces its summary.
  auto& ours = f.redis.hashes["mcp:member-config:m-self"];
  CHECK(ours == std::map<std::string, std::string>(mine.begin(), mine.end()));
  CHECK(f.redis.hashes["mcp:member:m-self"]["config"] == cluster::configSummary(mine));
  // The twin (same summary) is not read; the other is, for our ids only.
  size_t reads = 0;
  for (const auto& c : f.redis.log) {
    if (c[0] == "HMGET") {
      ++reads;
      CHECK(c == std::vector<std::string>{"HMGET", "mcp:member-config:m-other", "a", "b", "c"});
    }
  }
  CHECK(reads == 1);
  const cluster::ClusterView& v = f.member->view();
  CHECK(v.members == std::vector<std::string>{"m-other", "m-self", "m-twin"});
  CHECK(v.sameWhole == std::set<std::string>{"m-twin"});
  CHECK(v.sameConfig.count("m-twin") == 0);
  CHECK(v.sameConfig.at("m-other") == std::set<std::string>{"a"});

  // Unchanged summaries are not read again.
  f.redis.timeMs += 2000;
  f.loop.advance(2000);
  reads = 0;
  for (const auto& c : f.redis.log) {
    reads += c[0] == "HMGET" ? 1 : 0;
  }
  CHECK(reads == 1);

  // The other one reloads its config to agree on b: read again, and the view says so.
  theirs["b"] = "db";
  f.redis.hashes["mcp:member-config:m-other"] = {theirs.begin(), theirs.end()};
  f.redis.hashes["mcp:member:m-other"]["config"] = cluster::configSummary(theirs);
  const size_t before = f.views.size();
  f.redis.timeMs += 2000;
  f.loop.advance(2000);
  CHECK(f.member->view().sameConfig.at("m-other") == std::set<std::string>{"a", "b"});
  CHECK(f.views.size() == before + 1);

  // Redis lost our config hash: the summary is not announced until it is written again.
  f.redis.hashes.erase("mcp:member-config:m-self");
  f.redis.timeMs += 2000;
  f.loop.advance(2000);
  CHECK(f.redis.hashes["mcp:member:m-self"]["config"].empty());
  f.redis.timeMs += 2000;
  f.loop.advance(2000);
  CHECK(f.redis.hashes["mcp:member-config:m-self"].size() == 3);
  CHECK(f.redis.hashes["mcp:member:m-self"]["config"] == cluster::configSummary(mine));

  // A member whose config hash holds other things than digests (anyone can write Redis) is
  // only ever compared: nothing of it is kept but the matching ids.
  f.redis.hashes["mcp:member-config:m-other"] = {{"a", std::string(100'000, 'x')}};
  f.redis.hashes["mcp:member:m-other"]["config"] = "forged";
  f.redis.timeMs += 2000;
  f.loop.advance(2000);
  CHECK(f.member->view().sameConfig.count("m-other") == 0);
}
