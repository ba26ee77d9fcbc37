#include "cluster/ownership.hpp"

#include <catch2/catch.hpp>

#include "cluster/rendezvous.hpp"
#include "loop/sim_loop.hpp"

using namespace mcphd;
using namespace mcphd::cluster;

namespace {

// Records what ownership asks of the scheduler; reads of the published state answer when the
// test says so.
struct FakeTarget : OwnedServers {
  using Done = std::function<void(std::optional<std::map<std::string, Published>>)>;
  std::map<std::string, Trigger> owned;  // in the scheduler, with the trigger it came with
  std::map<std::string, std::optional<scheduler::LastCheck>> adoptedLast;
  std::vector<std::string> released;
  std::vector<std::string> removed;
  std::vector<std::string> forgotten;
  std::vector<std::pair<std::vector<std::string>, Done>> reads;

  void own(const registry::ServerSpec& spec, Trigger t) override { owned.emplace(spec.id, t); }
  void adopt(const registry::ServerSpec& spec, Trigger t,
             const std::optional<scheduler::LastCheck>& last) override {
    owned.emplace(spec.id, t);
    adoptedLast[spec.id] = last;
  }
  void release(const std::string& id) override {
    owned.erase(id);
    released.push_back(id);
  }
  void remove(const std::string& id) override {
    owned.erase(id);
    removed.push_back(id);
  }
  void forget(const std::string& id) override { forgotten.push_back(id); }
  void readPublished(std::vector<std::string> ids, Done done) override {
    reads.emplace_back(std::move(ids), std::move(done));
  }
  // Answers every read under way: `by` published each server it asks for ("": none was ever
  // published).
  void answerReads(const std::string& by, int64_t checkedAtWallMs) {
    auto pending = std::move(reads);
    reads.clear();
    for (auto& [ids, done] : pending) {
      std::map<std::string, Published> p;
      for (const auto& id : ids) {
        if (!by.empty()) {
          p[id] = Published{
              scheduler::LastCheck{checkedAtWallMs, scheduler::Status::kHealthy, 0, 3, 0}, by};
        }
      }
      done(p);
    }
  }
  void failReads() {
    auto pending = std::move(reads);
    reads.clear();
    for (auto& [ids, done] : pending) {
      done(std::nullopt);
    }
  }
};

registry::ServerSpec redisServer(const std::string& id) {
  registry::ServerSpec s;
  s.id = id;
  s.source = registry::Source::kRedis;
  s.url = "http://127.0.0.1:1/" + id;
  return s;
}

ClusterView view(std::vector<std::string> members) {
  ClusterView v;
  v.members = std::move(members);
  std::sort(v.members.begin(), v.members.end());
  return v;
}

std::vector<std::string> ids(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back("server-" + std::to_string(i));
  }
  return out;
}

}  // namespace

TEST_CASE(
    "ownership: nothing is checked before the first view, and alone a member owns everything") {
  loop::SimLoop loop;
  FakeTarget t;
  Ownership o(t, loop, loop, "m-a", 2000);
  for (const auto& id : ids(20)) {
    o.upsertServer(redisServer(id), Trigger::kStartup);
  }
  loop.runDue();
  CHECK(t.owned.empty());
  CHECK(t.reads.empty());
  CHECK(o.ownerOf("server-0").empty());
  o.setView(view({"m-a"}));
  loop.runDue();
  REQUIRE(t.reads.size() == 1);  // one read for all of them
  CHECK(t.reads[0].first.size() == 20);
  t.answerReads("", 0);  // never published
  CHECK(t.owned.size() == 20);
  CHECK(t.owned["server-3"] == Trigger::kStartup);
  CHECK(o.owned() == 20);
  // A view that does not list this member (not announced yet) changes nothing.
  o.setView(view({"m-b"}));
  CHECK(t.owned.size() == 20);
  CHECK(t.released.empty());
}

TEST_CASE("ownership: a server a live member published is taken after the grace and its timeout") {
  loop::SimLoop loop;
  FakeTarget t;
  Ownership o(t, loop, loop, "m-a", 2000);
  const auto all = ids(300);
  const std::vector<std::string> members = {"m-a", "m-b", "m-c"};
  o.setView(view(members));
  // Registry servers arrive after the first view, one by one: still one read, and a grace.
  for (const auto& id : all) {
    o.upsertServer(redisServer(id), Trigger::kStartup);
  }
  size_t mine = 0;
  for (const auto& id : all) {
    const std::string owner = cluster::ownerOf(id, members);
    CHECK(o.ownerOf(id) == owner);
    mine += owner == "m-a" ? 1 : 0;
  }
  CHECK(mine > 50);  // about a third
  CHECK(o.owned() == mine);
  CHECK(o.gaining() == mine);  // being read: a `check *` part waits for them
  loop.runDue();
  REQUIRE(t.reads.size() == 1);
  CHECK(t.reads[0].first.size() == mine);
  t.answerReads("m-b", loop.wallMs() - 1000);
  CHECK(t.owned.empty());      // m-b is live: it may be checking them still
  CHECK(o.gaining() == mine);  // in their grace
  // 2 s of grace plus the servers' timeout (10 s): a check m-b had under way has published.
  loop.advance(11'999);
  CHECK(t.reads.empty());
  loop.advance(1);
  REQUIRE(t.reads.size() == 1);
  CHECK(t.reads[0].first.size() == mine);
  t.answerReads("m-b", loop.wallMs() - 500);  // read again: its latest check counts
  CHECK(t.owned.size() == mine);
  CHECK(o.gaining() == 0);
  for (const auto& [id, trigger] : t.owned) {
    CHECK(trigger == Trigger::kHandover);
    REQUIRE(t.adoptedLast[id].has_value());
    CHECK(t.adoptedLast[id]->checkedAtWallMs == loop.wallMs() - 500);
    CHECK(t.adoptedLast[id]->consecutiveSuccesses == 3);
  }
  // Published by this member (before a restart), or never: its own trigger, no grace.
  FakeTarget t2;
  Ownership o2(t2, loop, loop, "m-a", 2000);
  o2.setView(view({"m-a", "m-z"}));
  o2.upsertServer(redisServer("server-0"), Trigger::kStartup);
  o2.upsertServer(redisServer("server-1"), Trigger::kStartup);
  loop.runDue();
  t2.answerReads("m-a", 1);
  CHECK(t2.reads.empty());
  for (const auto& [id, trigger] : t2.owned) {
    CHECK(trigger == Trigger::kStartup);
  }
  // Redis could not be read: read again a second later, nothing is scheduled meanwhile.
  FakeTarget t3;
  Ownership o3(t3, loop, loop, "m-a", 2000);
  o3.setView(view({"m-a"}));
  o3.upsertServer(redisServer("server-0"), Trigger::kStartup);
  loop.runDue();
  t3.failReads();
  CHECK(t3.owned.empty());
  loop.advance(1000);
  REQUIRE(t3.reads.size() == 1);
  t3.answerReads("", 0);
  CHECK(t3.owned.size() == 1);
}

TEST_CASE("ownership: a member that leaves hands its servers over at once, and only those move") {
  loop::SimLoop loop;
  FakeTarget t;
  Ownership o(t, loop, loop, "m-a", 2000);
  const auto all = ids(300);
  for (const auto& id : all) {
    o.upsertServer(redisServer(id), Trigger::kStartup);
  }
  o.setView(view({"m-a", "m-b", "m-c"}));
  loop.runDue();
  t.answerReads("", 0);
  const auto before = t.owned;

  // m-c is gone (its announcement expired): its servers that fall to m-a are read, and taken
  // without a grace (m-c published them, and is not live).
  o.setView(view({"m-a", "m-b"}));
  loop.runDue();
  REQUIRE(t.reads.size() == 1);
  for (const auto& id : t.reads[0].first) {
    CHECK(cluster::ownerOf(id, {"m-a", "m-b", "m-c"}) == "m-c");
    CHECK(cluster::ownerOf(id, {"m-a", "m-b"}) == "m-a");
  }
  t.answerReads("m-c", loop.wallMs());
  CHECK(t.reads.empty());
  CHECK(t.released.empty());  // nothing of m-a's moved
  for (const auto& [id, trigger] : before) {
    CHECK(t.owned.count(id) == 1);
  }
  CHECK(t.owned.size() > before.size());

  // m-c comes back: what it owns again is released at once, nothing else.
  const auto withTwo = t.owned;
  o.setView(view({"m-a", "m-b", "m-c"}));
  loop.runDue();
  CHECK(t.reads.empty());
  for (const auto& id : t.released) {
    CHECK(cluster::ownerOf(id, {"m-a", "m-b", "m-c"}) == "m-c");
  }
  CHECK(t.released.size() == withTwo.size() - before.size());
  CHECK(t.owned == before);
}

TEST_CASE("ownership: a released or removed server is not adopted by a read under way") {
  loop::SimLoop loop;
  FakeTarget t;
  Ownership o(t, loop, loop, "m-a", 2000);
  o.setView(view({"m-a", "m-b"}));
  std::string mineId;
  std::string theirsId;
  for (const auto& id : ids(50)) {
    (cluster::ownerOf(id, {"m-a", "m-b"}) == "m-a" ? mineId : theirsId) = id;
  }
  o.upsertServer(redisServer(mineId), Trigger::kResync);
  o.upsertServer(redisServer(theirsId), Trigger::kResync);
  loop.runDue();
  t.answerReads("", 0);
  CHECK(t.owned == std::map<std::string, Trigger>{{mineId, Trigger::kResync}});
  CHECK(o.ownerOf(theirsId) == "m-b");

  // m-b leaves; before the read answers, it is back: the server is not adopted.
  o.setView(view({"m-a"}));
  loop.runDue();
  REQUIRE(t.reads.size() == 1);
  CHECK(o.gaining() == 1);
  o.setView(view({"m-a", "m-b"}));
  CHECK(o.gaining() == 0);  // let go again: nothing to wait for
  t.answerReads("m-b", 1);
  CHECK(t.owned.count(theirsId) == 0);
  // ... and removed while its read is under way: not adopted either.
  o.setView(view({"m-a"}));
  loop.runDue();
  CHECK(o.gaining() == 1);
  o.removeServer(theirsId);
  CHECK(o.gaining() == 0);
  t.answerReads("m-b", 1);
  CHECK(t.owned.count(theirsId) == 0);
  CHECK(t.removed.empty());  // it never was in the scheduler
  CHECK(t.forgotten == std::vector<std::string>{theirsId});
  o.removeServer(mineId);
  CHECK(t.removed == std::vector<std::string>{mineId});
  CHECK(o.owned() == 0);
}

TEST_CASE("ownership: a config server is shared only with members that declare it the same way") {
  loop::SimLoop loop;
  FakeTarget t;
  Ownership o(t, loop, loop, "m-a", 2000);
  auto spec = redisServer("x");
  spec.source = registry::Source::kConfig;
  // Find an id that rendezvous would give to m-b over {m-a, m-b}.
  for (const auto& id : ids(50)) {
    if (cluster::ownerOf(id, {"m-a", "m-b"}) == "m-b") {
      spec.id = id;
      break;
    }
  }
  o.upsertServer(spec, Trigger::kStartup);
  // m-b is live but does not declare it: m-a checks it.
  o.setView(view({"m-a", "m-b"}));
  loop.runDue();
  t.answerReads("", 0);
  CHECK(t.owned.count(spec.id) == 1);
  // m-b declares it the same way now (this server only, or its whole config): it goes to m-b.
  ClusterView v = view({"m-a", "m-b"});
  v.sameConfig["m-b"] = {spec.id};
  o.setView(v);
  CHECK(t.released == std::vector<std::string>{spec.id});
  CHECK(o.ownerOf(spec.id) == "m-b");
  ClusterView whole = view({"m-a", "m-b"});
  whole.sameWhole = {"m-b"};
  o.setView(whole);
  CHECK(o.ownerOf(spec.id) == "m-b");
  // A declaration by a member that is not live counts for nothing.
  ClusterView gone = view({"m-a"});
  gone.sameConfig["m-b"] = {spec.id};
  gone.sameWhole = {"m-b"};
  o.setView(gone);
  CHECK(o.ownerOf(spec.id) == "m-a");
}
