#include "publish/state_publisher.hpp"

#include <simdjson.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "loop/sim_loop.hpp"
#include "redis/fake_redis.hpp"

using namespace mcphd;

namespace {

using mcphd::testing::FakeRedis;

uint64_t seqOf(const std::string& json) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(json).get(e) == simdjson::SUCCESS);
  return uint64_t(e["seq"]);
}

// Tools from (name, raw JSON) pairs, each with its hash.
std::vector<mcp::Tool> toolsOf(const std::vector<std::pair<std::string, std::string>>& nameAndRaw) {
  std::vector<mcp::Tool> tools;
  for (const auto& [name, raw] : nameAndRaw) {
    tools.push_back(mcp::makeTool(name, raw));
  }
  return tools;
}

scheduler::CheckReport report(const std::string& id,
                              const std::vector<std::pair<std::string, std::string>>& tools) {
  scheduler::CheckReport r;
  r.serverId = id;
  r.status = scheduler::Status::kHealthy;
  r.trigger = Trigger::kSchedule;
  r.probe.initialized = true;
  r.probe.toolsComplete = true;
  r.probe.tools = toolsOf(tools);
  r.probe.toolsHash = mcp::computeToolsHash(r.probe.tools);
  return r;
}

}  // namespace

TEST_CASE("each result is stored in the status hash and published with an increasing seq") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 2);
  CHECK(seqOf(health[0]) == 1);
  CHECK(seqOf(health[1]) == 2);
  CHECK(redis.hashes["mcp:status"]["a"] == health[1]);
  // The tool set did not change the second time: one tools message only.
  auto tools = redis.published("mcp:tools");
  REQUIRE(tools.size() == 1);
  CHECK(tools[0].find("\"added\":[\"t1\"]") != std::string::npos);
  CHECK(redis.strings.count("mcp:tools:a") == 1);
}

TEST_CASE("seq continues from the value stored by an earlier daemon") {
  loop::SimLoop clock;
  FakeRedis redis;
  redis.hashes["mcp:status"]["a"] = R"({"v":1,"type":"health","server_id":"a","seq":41})";
  redis.hashes["mcp:status"]["junk"] = "not json";
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {}));
  CHECK(seqOf(redis.published("mcp:health").at(0)) == 42);
}

TEST_CASE("the first read of the status hash is the scheduler's snapshot, once") {
  loop::SimLoop clock;
  FakeRedis redis;
  redis.hashes["mcp:status"]["a"] =
      R"({"v":1,"type":"health","server_id":"a","seq":4,"status":"unhealthy",)"
      R"("checked_at":"2026-11-26T14:39:12.123Z","consecutive_failures":7})";
  redis.hashes["mcp:status"]["b"] =
      R"({"v":1,"type":"health","server_id":"b","seq":2,"status":"healthy",)"
      R"("checked_at":"2026-11-26T14:39:13.000Z","consecutive_failures":0})";
  // Unreadable parts leave a server out of the snapshot: it is then due now.
  redis.hashes["mcp:status"]["bad-time"] =
      R"({"seq":1,"status":"healthy","checked_at":"yesterday"})";
  redis.hashes["mcp:status"]["bad-status"] =
      R"({"seq":1,"status":"fine","checked_at":"2026-11-26T14:39:13.000Z"})";
  redis.hashes["mcp:status"]["junk"] = "not json";
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  std::vector<std::optional<scheduler::Snapshot>> got;
  pub.onSnapshot([&](std::optional<scheduler::Snapshot> s) { got.push_back(std::move(s)); });
  redis.setUp(true);
  REQUIRE(got.size() == 1);
  REQUIRE(got[0].has_value());
  const scheduler::Snapshot& snap = *got[0];
  CHECK(snap.size() == 2);
  CHECK(snap.at("a").checkedAtWallMs == 1'795'703'952'123);
  CHECK(snap.at("a").status == scheduler::Status::kUnhealthy);
  CHECK(snap.at("a").consecutiveFailures == 7);
  CHECK(snap.at("b").status == scheduler::Status::kHealthy);
  redis.setUp(false);
  redis.setUp(true);
  CHECK(got.size() == 1);  // start-up only
}

TEST_CASE("a status hash that cannot be read gives no snapshot: every server is due now") {
  loop::SimLoop clock;
  FakeRedis redis;
  redis.strings["mcp:status"] = "a string, not a hash";
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  std::vector<std::optional<scheduler::Snapshot>> got;
  pub.onSnapshot([&](std::optional<scheduler::Snapshot> s) { got.push_back(std::move(s)); });
  redis.setUp(true);
  REQUIRE(got.size() == 1);
  CHECK_FALSE(got[0].has_value());
}

TEST_CASE("while Redis is away results are coalesced and the latest is written when it returns") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  for (int i = 0; i < 100; ++i) {
    auto r = report("a", {{"t1", "{\"name\":\"t1\"}"}});
    r.consecutiveSuccesses = i;
    pub.onReport(r);
  }
  CHECK(redis.log.empty());
  redis.setUp(true);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 1);
  CHECK(health[0].find("\"consecutive_successes\":99") != std::string::npos);
}

TEST_CASE(
    "after a Redis restart the status hash is refilled and lost tool snapshots are rewritten") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  // Told once per connection, when the refill is stored (for a dashboard to re-read it).
  std::vector<bool> refilledWith;
  pub.onRefilled([&] { refilledWith.push_back(redis.hashes["mcp:status"].count("a") == 1); });
  redis.setUp(true);
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  const std::string before = redis.hashes["mcp:status"]["a"];
  redis.setUp(false);
  redis.hashes.erase("mcp:status");  // restarted without persistence
  redis.strings.clear();
  redis.log.clear();
  redis.setUp(true);
  CHECK(redis.hashes["mcp:status"]["a"] == before);
  CHECK(refilledWith == std::vector<bool>{false, true});
  REQUIRE(!redis.log.empty());
  CHECK(redis.log.back() == std::vector<std::string>{"PING"});  // after the refill's writes
  CHECK(redis.published("mcp:health").empty());                 // a refill, not a new event
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  CHECK(redis.strings.count("mcp:tools:a") == 1);
  CHECK(seqOf(redis.hashes["mcp:status"]["a"]) == 2);
}

namespace {
publish::ToolHashes hashesOf(const std::vector<std::pair<std::string, std::string>>& nameAndRaw) {
  return publish::ToolHashes(toolsOf(nameAndRaw));
}
}  // namespace

TEST_CASE("while Redis reads slower than results come, they wait coalesced per server") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  REQUIRE(redis.published("mcp:health").size() == 1);

  // The connection holds more unwritten bytes than the limit: nothing more goes into it.
  redis.unsent = publish::StatePublisher::kCongestedBytes;
  const size_t sent = redis.log.size();
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  pub.onReport(report("b", {{"t9", "{\"name\":\"t9\"}"}}));
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}, {"t2", "{\"name\":\"t2\"}"}}));
  CHECK(redis.log.size() == sent);

  // Written down, but not yet below the resume mark: still waiting.
  redis.unsent = publish::StatePublisher::kResumeBytes;
  redis.written();
  CHECK(redis.log.size() == sent);

  // Below it: the latest result of each server, in the order they first waited.
  redis.unsent = 0;
  redis.written();
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 3);
  CHECK(health[1].find(R"("server_id":"a","seq":2)") != std::string::npos);
  CHECK(health[1].find(R"("tool_count":2)") != std::string::npos);
  CHECK(health[2].find(R"("server_id":"b","seq":1)") != std::string::npos);
  auto tools = redis.published("mcp:tools");
  REQUIRE(tools.size() == 3);
  CHECK(tools[1].find(R"("server_id":"a")") != std::string::npos);
  CHECK(tools[1].find(R"("added":["t2"])") != std::string::npos);
  CHECK(tools[2].find(R"("server_id":"b")") != std::string::npos);

  // Flowing again: a new result goes out at once.
  pub.onReport(report("b", {{"t9", "{\"name\":\"t9\"}"}}));
  CHECK(redis.published("mcp:health").size() == 4);
}

TEST_CASE("results waiting for a congested connection are written after a reconnect") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  redis.unsent = publish::StatePublisher::kCongestedBytes;
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  CHECK(redis.published("mcp:health").empty());
  redis.setUp(false);
  redis.unsent = 0;  // a new connection starts empty
  redis.setUp(true);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 1);
  CHECK(seqOf(health[0]) == 1);
}

TEST_CASE("tool changes are reported as added, removed and changed names") {
  auto d = publish::diffTools(hashesOf({{"a", "1"}, {"c", "3"}, {"b", "2"}, {"e", "5"}}),
                              hashesOf({{"e", "5"}, {"a", "1"}, {"b", "9"}, {"d", "4"}}));
  CHECK(d.added == std::vector<std::string>{"d"});
  CHECK(d.removed == std::vector<std::string>{"c"});
  CHECK(d.changed == std::vector<std::string>{"b"});
  auto fromEmpty = publish::diffTools({}, hashesOf({{"y", "2"}, {"x", "1"}}));
  CHECK(fromEmpty.added == std::vector<std::string>{"x", "y"});
  auto toEmpty = publish::diffTools(hashesOf({{"x", "1"}}), {});
  CHECK(toEmpty.removed == std::vector<std::string>{"x"});
  CHECK(toEmpty.added.empty());
  CHECK(toEmpty.changed.empty());
}

TEST_CASE("tool hashes are kept sorted by name, whatever the server's order") {
  auto hashes = hashesOf({{"zeta", "{}"}, {"alpha", "[]"}, {"", "0"}, {"mid", "1"}});
  REQUIRE(hashes.size() == 4);
  CHECK(hashes.name(0).empty());
  CHECK(hashes.name(1) == "alpha");
  CHECK(hashes.name(2) == "mid");
  CHECK(hashes.name(3) == "zeta");
  // Each keeps the digest of its own definition (they moved with the names).
  auto zeta = hashesOf({{"zeta", "{}"}});
  auto alpha = hashesOf({{"alpha", "[]"}});
  CHECK(hashes.digest(3) == zeta.digest(0));
  CHECK(hashes.digest(1) == alpha.digest(0));
  CHECK(zeta.digest(0) != alpha.digest(0));
}

TEST_CASE("a health message is valid JSON with every documented field") {
  auto r = report("a", {{"t1", "{\"name\":\"t1\"}"}});
  r.probe.error = mcp::CheckError{mcp::ErrorKind::kHttp, "HTTP 503 \"busy\"", 503};
  std::string j = publish::healthJson(r, 5, "member-a");
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(j).get(e) == simdjson::SUCCESS);
  for (const char* k :
       {"v", "type", "server_id", "seq", "status", "previous_status", "changed", "checked_at",
        "trigger", "checked_by", "latency_ms", "protocol_version", "server_info", "tool_count",
        "tools_hash", "consecutive_failures", "consecutive_successes", "error"}) {
    INFO(k);
    CHECK(e[k].error() == simdjson::SUCCESS);
  }
  CHECK(std::string_view(e["error"]["kind"]) == "http");
  CHECK(int64_t(e["error"]["http_status"]) == 503);
}

TEST_CASE("command ids of coalesced results are all answered, each after its PUBLISH") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  std::vector<std::pair<std::string, size_t>> answered;  // id, log size when answered
  pub.onAnswered([&](const std::string& id) { answered.emplace_back(id, redis.log.size()); });
  auto r1 = report("a", {});
  r1.commandIds = {"1-0"};
  pub.onReport(r1);
  auto r2 = report("a", {});
  r2.commandIds = {"2-0", "3-0"};
  pub.onReport(r2);
  CHECK(answered.empty());  // Redis is away: nothing published, nothing acknowledged
  redis.setUp(true);
  REQUIRE(answered.size() == 3);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 1);
  CHECK(health[0].find(R"("command_id":"1-0","command_ids":["1-0","2-0","3-0"])") !=
        std::string::npos);
  // The health PUBLISH precedes every acknowledgement.
  size_t publishAt = 0;
  for (size_t i = 0; i < redis.log.size(); ++i) {
    if (redis.log[i][0] == "PUBLISH" && redis.log[i][1] == "mcp:health") {
      publishAt = i + 1;
    }
  }
  REQUIRE(publishAt > 0);
  CHECK(answered[0].second >= publishAt);
}

TEST_CASE(
    "a message acknowledges the entries of the commands it answers in the script that publishes "
    "it, and names only those it acknowledged first") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  pub.entryOf([](const std::string& id, size_t nth) -> std::optional<publish::CommandEntry> {
    if (id == "5-0") {
      return std::nullopt;  // no entry: named as it is
    }
    const bool moved = id == "3-0";  // in a member's stream: deleted once answered
    // A command read twice (two entries under one id): its second entry is "<id>/1".
    return publish::CommandEntry{moved ? "mcp:member-commands:m" : "mcp:commands", "mcp-healthd",
                                 nth == 0 ? id : id + "/" + std::to_string(nth), moved};
  });
  std::vector<std::string> answered;
  pub.onAnswered([&](const std::string& id) { answered.push_back(id); });
  redis.setUp(true);
  redis.acked.insert("mcp:commands 2-0");  // answered already, by a member that ran it too
  auto r = report("a", {});
  r.commandIds = {"1-0", "2-0", "3-0", "5-0"};
  pub.onReport(r);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 1);
  const std::string ids = R"("command_id":"1-0","command_ids":["1-0","3-0","5-0"])";
  CHECK(health[0].find(ids) != std::string::npos);
  CHECK(answered == std::vector<std::string>{"1-0", "2-0", "3-0", "5-0"});
  size_t acks = 0;
  size_t deletes = 0;
  for (const auto& c : redis.log) {
    acks += c[0] == "XACK" ? 1 : 0;
    if (c[0] == "XDEL") {
      ++deletes;
      CHECK(c == std::vector<std::string>{"XDEL", "mcp:member-commands:m", "3-0"});
    }
  }
  CHECK(acks == 2);
  CHECK(deletes == 1);
  CHECK(std::count(redis.log.begin(), redis.log.end(),
                   std::vector<std::string>{"SET", "mcp:answered:1-0:commands", "1"}) == 1);

  // Redis lost the status: the refill writes it back as the script wrote it.
  redis.setUp(false);
  redis.hashes["mcp:status"].erase("a");
  redis.setUp(true);
  REQUIRE(redis.hashes["mcp:status"].count("a") == 1);
  CHECK(redis.hashes["mcp:status"]["a"] == health[0]);

  // command_error and command_done: published by the first acknowledgement of their entry only.
  const publish::CommandEntry e{"mcp:commands", "mcp-healthd", "8-0", false};
  CHECK(pub.publishCommandError("8-0", "check", "nope", "unknown server 'nope'", e));
  CHECK(pub.publishCommandError("8-0", "check", "nope", "unknown server 'nope'", e));
  const publish::CommandEntry all{"mcp:member-commands:m", "mcp-healthd", "9-0", true};
  CHECK(pub.publishCommandDone("9-0", "check", 3, all));
  CHECK(pub.publishCommandDone("9-0", "check", 3, all));
  health = redis.published("mcp:health");
  REQUIRE(health.size() == 3);
  CHECK(health[1].find(R"("type":"command_error","command_id":"8-0")") != std::string::npos);
  CHECK(health[2].find(R"("type":"command_done","command_id":"9-0")") != std::string::npos);

  // One id twice (two entries): each entry is acknowledged.
  auto twice = report("b", {});
  twice.commandIds = {"6-0", "6-0"};
  pub.onReport(twice);
  CHECK(std::count(redis.log.begin(), redis.log.end(),
                   std::vector<std::string>{"XACK", "mcp:commands", "mcp-healthd", "6-0"}) == 1);
  CHECK(std::count(redis.log.begin(), redis.log.end(),
                   std::vector<std::string>{"XACK", "mcp:commands", "mcp-healthd", "6-0/1"}) == 1);
}

TEST_CASE("a removal deletes the server's state and answers its command") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  std::vector<std::string> answered;
  pub.onAnswered([&](const std::string& id) { answered.push_back(id); });
  pub.onRemoved("a", scheduler::Answers({"9-0"}, 0, 0));
  CHECK(redis.hashes["mcp:status"].count("a") == 0);
  CHECK(redis.strings.count("mcp:tools:a") == 0);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 2);
  CHECK(health[1].find(R"("type":"removed","server_id":"a","seq":2)") != std::string::npos);
  CHECK(health[1].find(R"("command_id":"9-0")") != std::string::npos);
  CHECK(answered == std::vector<std::string>{"9-0"});
}

TEST_CASE("a server registered again after its removal continues the seq") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {}));
  pub.onRemoved("a", scheduler::Answers{});
  pub.onReport(report("a", {}));
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 3);
  CHECK(seqOf(health[1]) == 2);
  CHECK(seqOf(health[2]) == 3);
}

TEST_CASE("a health message names at most 16 check * ids and says how many more it answers") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  scheduler::BroadcastLog log;
  std::vector<std::string> done;
  log.onDone([&](const std::string& id, size_t) { done.push_back(id); });
  pub.setBroadcasts(log);
  redis.setUp(true);
  for (int i = 1; i <= 20; ++i) {
    log.add(std::to_string(i) + "-0", 1);
  }
  auto r = report("a", {});
  r.commandIds = {"single-0"};  // a command naming this server: never dropped
  r.broadcastFrom = 0;
  r.broadcastTo = 20;
  pub.onReport(r);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 1);
  CHECK(health[0].find(R"("command_id":"single-0","command_ids":["single-0","1-0","2-0",)") !=
        std::string::npos);
  INFO(health[0]);
  CHECK(health[0].find(R"("16-0"],"command_ids_truncated":4})") != std::string::npos);
  CHECK(health[0].find("17-0") == std::string::npos);
  // Answered once written: every one of them is done (one server each).
  CHECK(done.size() == 20);
}

TEST_CASE("a health message names the server's display name when it has one") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  auto named = report("a", {});
  named.name = "Billing \"EU\"";
  pub.onReport(named);
  pub.onReport(report("b", {}));
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 2);
  CHECK(health[0].find(R"("seq":1,"name":"Billing \"EU\"","status":"healthy")") !=
        std::string::npos);
  CHECK(health[1].find(",\"name\"") == std::string::npos);  // (server_info has one of its own)
}

namespace {
size_t countOp(const FakeRedis& redis, const std::string& op) {
  return static_cast<size_t>(
      std::count_if(redis.log.begin(), redis.log.end(), [&](const auto& c) { return c[0] == op; }));
}
}  // namespace

TEST_CASE("results are written by the publish script run by its SHA1, and say who checked them") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  REQUIRE(countOp(redis, "SCRIPT") == 4);  // loaded at connect: publish, remove, refill, answer
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  CHECK(countOp(redis, "EVALSHA") == 1);  // one round trip: status, snapshot, both channels
  CHECK(countOp(redis, "EVAL") == 0);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 1);
  CHECK(health[0].find(R"("trigger":"schedule","checked_by":"member-a",)") != std::string::npos);
  CHECK(redis.hashes["mcp:seq"]["a"] == "1");
  // The tools message and the snapshot carry the seq of their check's health message.
  auto tools = redis.published("mcp:tools");
  REQUIRE(tools.size() == 1);
  CHECK(tools[0].find(R"("server_id":"a","seq":1,)") != std::string::npos);
  CHECK(redis.strings["mcp:tools:a"].find(R"("server_id":"a","seq":1,)") != std::string::npos);
}

TEST_CASE("a Redis that lost the scripts (NOSCRIPT) gets the same write again as EVAL") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {}));
  redis.scripts.clear();  // SCRIPT FLUSH
  pub.onReport(report("a", {}));
  pub.onRemoved("a", scheduler::Answers{});
  CHECK(countOp(redis, "EVAL") == 2);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 3);
  CHECK(seqOf(health[1]) == 2);
  CHECK(health[2].find(R"("type":"removed","server_id":"a","seq":3)") != std::string::npos);
}

TEST_CASE("without its scripts nothing is written: results wait for a connection that has them") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  // A Redis user without SCRIPT: every load is refused.
  redis.refuse = FakeRedis::Refusal{
      "SCRIPT", "NOPERM this user has no permissions to run the 'script' command"};
  redis.setUp(true);
  pub.onReport(report("a", {}));
  CHECK(redis.published("mcp:health").empty());
  CHECK(countOp(redis, "HGETALL") == 0);
  redis.refuse.reset();
  redis.setUp(false);
  redis.setUp(true);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 1);
  CHECK(seqOf(health[0]) == 1);
}

TEST_CASE("after a reconnect a server's state is written again only when Redis holds none newer") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {}));
  pub.onReport(report("b", {}));
  redis.setUp(false);
  // Meanwhile another member checked a (seq 7); b's status was lost.
  const std::string theirs = R"({"v":1,"type":"health","server_id":"a","seq":7})";
  redis.hashes["mcp:status"]["a"] = theirs;
  redis.hashes["mcp:status"].erase("b");
  redis.log.clear();
  redis.setUp(true);
  CHECK(redis.hashes["mcp:status"]["a"] == theirs);
  CHECK(seqOf(redis.hashes["mcp:status"]["b"]) == 1);
  CHECK(redis.published("mcp:health").empty());  // refills are no events
  pub.onReport(report("a", {}));
  CHECK(seqOf(redis.published("mcp:health").at(0)) == 8);
}

TEST_CASE("a server's next write waits for the reply to the one in flight, coalesced") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  redis.holdReplies = true;
  pub.onReport(report("a", {}));
  pub.onReport(report("b", {}));  // another server: not held up
  CHECK(countOp(redis, "EVALSHA") == 2);
  pub.onReport(report("a", {}));
  pub.onReport(report("a", {}));
  CHECK(countOp(redis, "EVALSHA") == 2);
  redis.release();  // a's reply: its latest result goes
  CHECK(countOp(redis, "EVALSHA") == 3);
  redis.release();
  CHECK(countOp(redis, "EVALSHA") == 3);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 3);
  CHECK(seqOf(health[2]) == 2);
}

TEST_CASE("Redis that lost everything while results waited: numbering continues after ours") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {}));
  pub.onReport(report("a", {}));
  pub.onReport(report("b", {}));
  redis.setUp(false);
  pub.onReport(report("a", {}));
  pub.onRemoved("b", scheduler::Answers{});
  redis.hashes.clear();  // restarted without persistence
  redis.log.clear();
  redis.setUp(true);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 2);
  CHECK(health[0].find(R"("type":"health","server_id":"a","seq":3,)") != std::string::npos);
  CHECK(health[1].find(R"("type":"removed","server_id":"b","seq":2,)") != std::string::npos);
}

TEST_CASE("a server removed by another member while we were away is not written back") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {}));
  redis.setUp(false);
  redis.hashes["mcp:status"].erase("a");  // its removal message took seq 2
  redis.hashes["mcp:seq"]["a"] = "2";
  redis.setUp(true);
  CHECK(redis.hashes["mcp:status"].count("a") == 0);
}

TEST_CASE("a result that cannot be sent as the connection goes is written by the next one") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  std::vector<std::string> answered;
  pub.onAnswered([&](const std::string& id) { answered.push_back(id); });
  redis.setUp(true);
  redis.holdReplies = true;
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));  // in flight
  auto second = report("a", {{"t1", "{\"name\":\"t1\"}"}, {"t2", "{\"name\":\"t2\"}"}});
  second.commandIds = {"7-0"};
  pub.onReport(second);  // waits for the first reply
  // The first is answered, but the connection refuses the second: nothing is lost or answered.
  redis.refuseSends = true;
  redis.release();
  CHECK(answered.empty());
  redis.refuseSends = false;
  redis.holdReplies = false;
  redis.setUp(false);
  redis.setUp(true);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 2);
  CHECK(health[1].find(R"("command_id":"7-0")") != std::string::npos);
  CHECK(answered == std::vector<std::string>{"7-0"});
  auto tools = redis.published("mcp:tools");
  REQUIRE(tools.size() == 2);
  CHECK(tools[1].find(R"("added":["t2"])") != std::string::npos);
}

TEST_CASE("a connection lost with a write in flight: the waiting result goes on the next one") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  redis.holdReplies = true;
  pub.onReport(report("a", {}));
  pub.onReport(report("a", {{"t9", "{\"name\":\"t9\"}"}}));
  redis.failHeld();  // no reply: nothing is sent on the dying connection
  CHECK(countOp(redis, "EVALSHA") == 1);
  redis.holdReplies = false;
  redis.setUp(false);
  redis.setUp(true);
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 2);
  CHECK(seqOf(health[1]) == 2);
  auto tools = redis.published("mcp:tools");  // the first check's (empty) tool set, then t9
  REQUIRE(tools.size() == 2);
  CHECK(tools[1].find(R"("seq":2,)") != std::string::npos);
  CHECK(tools[1].find(R"("added":["t9"])") != std::string::npos);
}

TEST_CASE(
    "a server taken over from another member is not announced with a tools message when its tool "
    "set is the one that member published") {
  const auto one = report("a", {{"t1", "{\"name\":\"t1\"}"}});
  const auto two = report("a", {{"t1", "{\"name\":\"t1\"}"}, {"t2", "{\"name\":\"t2\"}"}});
  for (const bool readFirst : {true, false}) {
    INFO((readFirst ? "taken over (its stored state read first)" : "owned from the start"));
    loop::SimLoop clock;
    FakeRedis redis;
    publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-b");
    redis.setUp(true);
    redis.hashes["mcp:status"]["a"] = publish::healthJson(one, 4, "member-a");
    redis.hashes["mcp:seq"]["a"] = "4";
    if (readFirst) {
      bool read = false;
      pub.readStored({"a"}, [&](std::optional<std::map<std::string, publish::StoredCheck>> m) {
        read = m && m->count("a") == 1 && m->at("a").toolsHash == one.probe.toolsHash;
      });
      REQUIRE(read);
    }
    pub.own("a");
    pub.onReport(one);
    CHECK(redis.published("mcp:health").size() == 1);
    CHECK(redis.published("mcp:tools").size() == (readFirst ? 0U : 1U));
    pub.onReport(two);  // a change is announced either way
    CHECK(redis.published("mcp:tools").size() == (readFirst ? 1U : 2U));
  }
}

namespace {

std::shared_ptr<const baseline::Verdict> drifted(bool entered) {
  auto v = std::make_shared<baseline::Verdict>();
  v->approval = baseline::Approval::kDrifted;
  v->baselineHash = "sha256:approved";
  v->drift.added = {"t2"};
  v->drift.changed = {{"t1", {"description"}}};
  v->enteredDrift = entered;
  return v;
}

}  // namespace

TEST_CASE(
    "entering drifted publishes one drift message on the tools channel with its check's seq") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  pub.onReport(report("a", {{"t1", R"({"name":"t1"})"}}));  // approved, say: no verdict here
  auto r =
      report("a", {{"t1", R"({"name":"t1","description":"new"})"}, {"t2", R"({"name":"t2"})"}});
  r.probe.verdict = drifted(true);
  pub.onReport(r);
  auto again =
      report("a", {{"t1", R"({"name":"t1","description":"new"})"}, {"t2", R"({"name":"t2"})"}});
  again.probe.verdict = drifted(false);  // still drifted: said once
  pub.onReport(again);

  const auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 3);
  std::vector<std::string> drifts;
  for (const auto& m : redis.published("mcp:tools")) {
    if (m.find(R"("type":"drift")") != std::string::npos) {
      drifts.push_back(m);
    }
  }
  REQUIRE(drifts.size() == 1);
  CHECK(seqOf(drifts[0]) == seqOf(health[1]));
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(drifts[0]).get(e) == simdjson::SUCCESS);
  CHECK(std::string_view(e["server_id"]) == "a");
  CHECK(std::string_view(e["baseline_hash"]) == "sha256:approved");
  CHECK(std::string_view(e["tools_hash"]) == r.probe.toolsHash);
  CHECK(std::string_view(e["added"].at(0)) == "t2");
  CHECK(e["removed"].get_array().size() == 0);
  CHECK(std::string_view(e["changed"].at(0)["name"]) == "t1");
  CHECK(std::string_view(e["changed"].at(0)["keys"].at(0)) == "description");
  CHECK(e["quarantined"].get_bool().value() == false);
  // The health message of that check says drifted, with the short drift.
  REQUIRE(p.parse(health[1]).get(e) == simdjson::SUCCESS);
  CHECK(std::string_view(e["tools_approval"]) == "drifted");
  CHECK(std::string_view(e["tools_drift"]["changed"].at(0)["name"]) == "t1");
}

TEST_CASE("a drift message waits with its result while Redis is away, and is not lost") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  auto r = report("a", {{"t1", R"({"name":"t1"})"}});
  r.probe.verdict = drifted(true);
  pub.onReport(r);  // not connected yet
  auto later = report("a", {{"t1", R"({"name":"t1"})"}});
  later.probe.verdict = drifted(false);
  pub.onReport(later);  // coalesced over it
  redis.setUp(true);
  size_t drifts = 0;
  for (const auto& m : redis.published("mcp:tools")) {
    drifts += m.find(R"("type":"drift")") != std::string::npos ? 1 : 0;
  }
  CHECK(drifts == 1);
}

TEST_CASE("the tool snapshot carries the findings of its list") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  auto r = report("a", {{"t1", R"({"name":"t1"})"}});
  auto v = std::make_shared<baseline::Verdict>();
  v->findings = {{"t1", "model_instruction", "the description says <important>"}};
  v->findingsTotal = 1;
  r.probe.verdict = v;
  pub.onReport(r);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(redis.strings["mcp:tools:a"]).get(e) == simdjson::SUCCESS);
  CHECK(int64_t(e["findings_count"]) == 1);
  CHECK(std::string_view(e["findings"].at(0)["code"]) == "model_instruction");
  // Without a verdict: null.
  pub.onReport(report("b", {{"t1", R"({"name":"t1"})"}}));
  REQUIRE(p.parse(redis.strings["mcp:tools:b"]).get(e) == simdjson::SUCCESS);
  CHECK(e["findings"].is_null());
}

TEST_CASE("Redis that restarted without its data is told apart from one that kept it") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  int lost = 0;
  pub.onDataLost([&] { ++lost; });
  redis.setUp(true);
  REQUIRE(redis.strings.count("mcp:epoch") == 1);
  const std::string token = redis.strings["mcp:epoch"];
  CHECK(lost == 0);

  SECTION("a restart with its data: a new run_id, the same epoch") {
    redis.setUp(false);
    redis.runId = "second";
    redis.loadedKeys = 40;
    redis.setUp(true);
    CHECK(lost == 0);
    CHECK(redis.strings["mcp:epoch"] == token);
  }
  SECTION("the epoch deleted before a restart with persistence: not a loss") {
    for (const bool aof : {true, false}) {
      redis.strings.erase("mcp:epoch");
      redis.setUp(false);
      redis.runId += "x";
      redis.aof = aof;
      redis.loadedKeys = aof ? 0 : 12;  // an AOF start says 0 keys loaded from an RDB file
      redis.setUp(true);
      CHECK(lost == 0);
    }
  }
  SECTION("a restart without its data: a new run_id and a new epoch") {
    redis.setUp(false);
    redis.runId = "second";
    redis.strings.clear();
    redis.hashes.clear();
    redis.setUp(true);
    CHECK(lost == 1);
    redis.setUp(false);  // and again, now with what it has
    redis.runId = "third";
    redis.setUp(true);
    CHECK(lost == 1);
  }
  SECTION("the epoch deleted by whoever can write to Redis: the same run_id, not a loss") {
    redis.strings.erase("mcp:epoch");
    redis.setUp(false);
    redis.setUp(true);
    CHECK(lost == 0);
  }
  SECTION("a reconnect to the same Redis") {
    redis.setUp(false);
    redis.setUp(true);
    CHECK(lost == 0);
  }
}

TEST_CASE("a stored status that says approved or drifted tells that the server had a baseline") {
  loop::SimLoop clock;
  FakeRedis redis;
  redis.hashes["mcp:status"]["a"] =
      R"({"v":1,"type":"health","server_id":"a","seq":3,"status":"healthy","checked_at":"2026-12-01T10:00:00.000Z","tools_approval":"approved"})";
  redis.hashes["mcp:status"]["b"] =
      R"({"v":1,"type":"health","server_id":"b","seq":3,"status":"quarantined","checked_at":"2026-12-01T10:00:00.000Z","tools_approval":"drifted"})";
  redis.hashes["mcp:status"]["c"] =
      R"({"v":1,"type":"health","server_id":"c","seq":3,"status":"healthy","checked_at":"2026-12-01T10:00:00.000Z","tools_approval":"unapproved"})";
  redis.hashes["mcp:status"]["d"] =
      R"({"v":1,"type":"health","server_id":"d","seq":3,"status":"healthy","checked_at":"2026-12-01T10:00:00.000Z","tools_approval":null})";
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  std::set<std::string> seen;
  std::set<std::string> drifted;
  pub.onBaselineSeen([&](const std::string& id, bool d) {
    seen.insert(id);
    if (d) {
      drifted.insert(id);
    }
  });
  std::optional<scheduler::Snapshot> snapshot;
  pub.onSnapshot([&](std::optional<scheduler::Snapshot> s) { snapshot = std::move(s); });
  redis.setUp(true);
  REQUIRE(snapshot);
  CHECK(snapshot->size() == 4);
  CHECK(seen == std::set<std::string>{"a", "b"});
  CHECK(drifted == std::set<std::string>{"b"});
}

TEST_CASE("a health message keeps a drift small: 20 names, 20 keys each, names cut to 128 bytes") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, keyspace::Keyspace("mcp:"), "member-a");
  redis.setUp(true);
  auto v = std::make_shared<baseline::Verdict>();
  v->approval = baseline::Approval::kDrifted;
  v->enteredDrift = true;
  baseline::ChangedTool c{std::string(300, 'n'), {}};
  for (int i = 0; i < 25; ++i) {
    c.keys.push_back("k" + std::to_string(i));
    v->drift.added.push_back("added" + std::to_string(i));
  }
  v->drift.changed = {c};
  auto r = report("a", {{"t1", R"({"name":"t1"})"}});
  r.probe.verdict = v;
  pub.onReport(r);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(redis.published("mcp:health").at(0)).get(e) == simdjson::SUCCESS);
  auto drift = e["tools_drift"];
  CHECK(drift["added"].get_array().size() == 20);
  CHECK(int64_t(drift["added_count"]) == 25);
  CHECK(drift["changed"].at(0)["keys"].get_array().size() == 20);
  CHECK(int64_t(drift["changed"].at(0)["keys_count"]) == 25);
  CHECK(std::string_view(drift["changed"].at(0)["name"]).size() == 128);
  // The drift message has them all.
  std::string driftMessage;
  for (const auto& m : redis.published("mcp:tools")) {
    if (m.find(R"("type":"drift")") != std::string::npos) {
      driftMessage = m;
    }
  }
  REQUIRE(p.parse(driftMessage).get(e) == simdjson::SUCCESS);
  CHECK(e["added"].get_array().size() == 25);
  CHECK(e["changed"].at(0)["keys"].get_array().size() == 25);
}
