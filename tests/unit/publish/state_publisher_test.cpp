#include "publish/state_publisher.hpp"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "loop/sim_loop.hpp"

using namespace mcphd;

namespace {

// Redis as the publisher sees it: records commands, answers HGETALL/EXISTS from a map.
struct FakeRedis : redis::Commands {
  bool up = false;
  std::function<void(bool)> listener;
  std::vector<std::vector<std::string>> log;
  std::map<std::string, std::string> status;  // the mcp:status hash
  std::set<std::string> keys;

  bool ready() const override { return up; }
  void onReadyChange(std::function<void(bool)> l) override { listener = std::move(l); }
  bool command(std::vector<std::string> argv,
               std::function<void(Result<redis::Reply>)> done) override {
    if (!up) {
      return false;
    }
    log.push_back(argv);
    redis::Reply r;
    if (argv[0] == "HGETALL") {
      r.type = redis::Reply::Type::kArray;
      for (const auto& [k, v] : status) {
        r.elements.push_back({redis::Reply::Type::kString, k, 0, {}});
        r.elements.push_back({redis::Reply::Type::kString, v, 0, {}});
      }
    } else if (argv[0] == "HSET") {
      status[argv[2]] = argv[3];
      r.type = redis::Reply::Type::kInteger;
    } else if (argv[0] == "SET") {
      keys.insert(argv[1]);
      r.type = redis::Reply::Type::kStatus;
    } else if (argv[0] == "EXISTS") {
      r.type = redis::Reply::Type::kInteger;
      r.integer = keys.count(argv[1]);
    } else {
      r.type = redis::Reply::Type::kInteger;
    }
    done(std::move(r));
    return true;
  }
  void setUp(bool u) {
    up = u;
    listener(u);
  }
  std::vector<std::string> published(const std::string& channel) const {
    std::vector<std::string> out;
    for (const auto& c : log) {
      if (c[0] == "PUBLISH" && c[1] == channel) {
        out.push_back(c[2]);
      }
    }
    return out;
  }
};

uint64_t seqOf(const std::string& json) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(json).get(e) == simdjson::SUCCESS);
  return uint64_t(e["seq"]);
}

scheduler::CheckReport report(const std::string& id,
                              std::vector<std::pair<std::string, std::string>> tools) {
  scheduler::CheckReport r;
  r.serverId = id;
  r.status = scheduler::Status::kHealthy;
  r.trigger = "schedule";
  r.probe.initialized = true;
  r.probe.toolsComplete = true;
  for (auto& [name, raw] : tools) {
    r.probe.tools.push_back({name, raw, raw + "-hash"});
  }
  r.probe.toolsHash = mcp::computeToolsHash(r.probe.tools);
  return r;
}

}  // namespace

TEST_CASE("each result is stored in the status hash and published with an increasing seq") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, "mcp:");
  redis.setUp(true);
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  auto health = redis.published("mcp:health");
  REQUIRE(health.size() == 2);
  CHECK(seqOf(health[0]) == 1);
  CHECK(seqOf(health[1]) == 2);
  CHECK(redis.status["a"] == health[1]);
  // The tool set did not change the second time: one tools message only.
  auto tools = redis.published("mcp:tools");
  REQUIRE(tools.size() == 1);
  CHECK(tools[0].find("\"added\":[\"t1\"]") != std::string::npos);
  CHECK(redis.keys.count("mcp:tools:a") == 1);
}

TEST_CASE("seq continues from the value stored by an earlier daemon") {
  loop::SimLoop clock;
  FakeRedis redis;
  redis.status["a"] = R"({"v":1,"type":"health","server_id":"a","seq":41})";
  redis.status["junk"] = "not json";
  publish::StatePublisher pub(redis, clock, "mcp:");
  redis.setUp(true);
  pub.onReport(report("a", {}));
  CHECK(seqOf(redis.published("mcp:health").at(0)) == 42);
}

TEST_CASE("while Redis is away results are coalesced and the latest is written when it returns") {
  loop::SimLoop clock;
  FakeRedis redis;
  publish::StatePublisher pub(redis, clock, "mcp:");
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
  publish::StatePublisher pub(redis, clock, "mcp:");
  redis.setUp(true);
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  const std::string before = redis.status["a"];
  redis.setUp(false);
  redis.status.clear();  // restarted without persistence
  redis.keys.clear();
  redis.log.clear();
  redis.setUp(true);
  CHECK(redis.status["a"] == before);
  CHECK(redis.published("mcp:health").empty());  // a refill, not a new event
  pub.onReport(report("a", {{"t1", "{\"name\":\"t1\"}"}}));
  CHECK(redis.keys.count("mcp:tools:a") == 1);
  CHECK(seqOf(redis.status["a"]) == 2);
}

TEST_CASE("tool changes are reported as added, removed and changed names") {
  auto d = publish::diffTools({{"a", "1"}, {"b", "2"}, {"c", "3"}},
                              {{"a", "1"}, {"b", "9"}, {"d", "4"}});
  CHECK(d.added == std::vector<std::string>{"d"});
  CHECK(d.removed == std::vector<std::string>{"c"});
  CHECK(d.changed == std::vector<std::string>{"b"});
}

TEST_CASE("a health message is valid JSON with every documented field") {
  auto r = report("a", {{"t1", "{\"name\":\"t1\"}"}});
  r.probe.error = mcp::CheckError{mcp::ErrorKind::kHttp, "HTTP 503 \"busy\"", 503};
  std::string j = publish::healthJson(r, 5);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(j).get(e) == simdjson::SUCCESS);
  for (const char* k :
       {"v", "type", "server_id", "seq", "status", "previous_status", "changed", "checked_at",
        "trigger", "latency_ms", "protocol_version", "server_info", "tool_count", "tools_hash",
        "consecutive_failures", "consecutive_successes", "error"}) {
    INFO(k);
    CHECK(e[k].error() == simdjson::SUCCESS);
  }
  CHECK(std::string_view(e["error"]["kind"]) == "http");
  CHECK(int64_t(e["error"]["http_status"]) == 503);
}
