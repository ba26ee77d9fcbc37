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
    member->onChange([this](const std::vector<std::string>& m) { changes.push_back(m); });
  }
  size_t heartbeats() const {
    size_t n = 0;
    for (const auto& c : redis.log) {
      n += (c[0] == "EVAL" || c[0] == "EVALSHA") ? 1 : 0;
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
