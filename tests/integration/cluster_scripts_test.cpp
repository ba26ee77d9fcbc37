// The cluster's Lua scripts (src/cluster/membership.cpp, src/control/command_scripts.cpp) run by
// a real redis-server, with what anyone who can write Redis may have put there.
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "cluster/membership.hpp"
#include "control/command_scripts.hpp"
#include "harness.hpp"

using namespace mcphd;
using namespace mcphd::itest;

namespace {

// Runs `script` (which ends in a `return`) and answers its reply as JSON: the harness's query
// reads strings and integers only.
std::optional<std::string> evalJson(const RedisServer& redis, const std::string& script,
                                    std::vector<std::string> keys, std::vector<std::string> args) {
  std::vector<std::string> argv{
      "EVAL", "local function body()\n" + script + "\nend\n" + "return cjson.encode(body())",
      std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return redis.query(argv);
}

std::optional<std::string> heartbeat(const RedisServer& redis, const std::string& summary) {
  return evalJson(redis, cluster::heartbeatScript(),
                  {"mcp:members", "mcp:member:me", "mcp:member-config:me"},
                  {"me", "6000", "3", "1", "0.1.0", "1000", summary, "mcp:member:"});
}

int64_t redisNowMs(const RedisServer& redis) {
  return std::stoll(*evalJson(redis, "local t = redis.call('TIME') return t[1] * 1000", {}, {}));
}

}  // namespace

TEST_CASE(
    "cluster scripts: a heartbeat survives hostile member keys and announces only what exists") {
  TempDir dir;
  RedisServer redis(dir);
  const int64_t now = redisNowMs(redis);
  redis.query({"ZADD", "mcp:members", std::to_string(now + 1'000'000'000), "ghost"});  // for ever
  redis.query({"ZADD", "mcp:members", std::to_string(now + 60'000), "evil"});
  redis.query({"SET", "mcp:member:evil", "not a hash"});
  redis.query({"ZADD", "mcp:members", std::to_string(now + 60'000), "forger"});
  redis.query({"HSET", "mcp:member:forger", "config", "not-hex"});

  // Our config: more pairs than one HSET of the script takes (2,000 arguments).
  std::map<std::string, std::string> digests;
  std::vector<std::string> args = {"6000"};
  for (int i = 0; i < 2500; ++i) {
    const std::string id = "srv-" + std::to_string(i);
    digests[id] = std::string(64, 'a');
    args.push_back(id);
    args.push_back(digests[id]);
  }
  std::vector<std::string> argv = {"EVAL", cluster::memberConfigScript(), "1",
                                   "mcp:member-config:me"};
  argv.insert(argv.end(), args.begin(), args.end());
  REQUIRE(redis.query(argv) == "1");
  CHECK(redis.query({"HLEN", "mcp:member-config:me"}) == "2500");
  const std::string summary = cluster::configSummary(digests);

  auto reply = heartbeat(redis, summary);
  REQUIRE(reply);
  INFO(*reply);
  Json j(*reply);
  REQUIRE(j.ok);
  std::vector<std::string> live;
  std::vector<std::string> sums;
  for (auto m : j.root.at_pointer("/1").get_array()) {
    live.emplace_back(std::string_view(m));
  }
  for (auto m : j.root.at_pointer("/2").get_array()) {
    sums.emplace_back(std::string_view(m));
  }
  // ghost's score lies beyond any member_ttl: not a member. evil's key is no hash and forger's
  // summary no digest: listed, with no config.
  CHECK(live == std::vector<std::string>{"me", "evil", "forger"});
  CHECK(sums == std::vector<std::string>{summary, "", ""});
  CHECK(int64_t(j.root.at_pointer("/3")) == 1);
  CHECK(redis.query({"HGET", "mcp:member:me", "config"}) == summary);

  // Redis lost our config hash: nothing announced, and the member learns it must write it again.
  redis.query({"DEL", "mcp:member-config:me"});
  reply = heartbeat(redis, summary);
  REQUIRE(reply);
  Json k(*reply);
  REQUIRE(k.ok);
  CHECK(int64_t(k.root.at_pointer("/3")) == 0);
  CHECK(redis.query({"HGET", "mcp:member:me", "config"}) == "");
}

TEST_CASE("cluster scripts: a command moves only to a live member, once, and parts add up once") {
  TempDir dir;
  RedisServer redis(dir);
  const int64_t now = redisNowMs(redis);
  redis.query({"ZADD", "mcp:members", std::to_string(now + 60'000), "live-one"});
  redis.query({"ZADD", "mcp:members", std::to_string(now - 1), "dead-one"});
  redis.query({"XGROUP", "CREATE", "mcp:commands", "g", "0", "MKSTREAM"});
  const auto id = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "s1"});
  REQUIRE(id);
  redis.query({"XREADGROUP", "GROUP", "g", "reader", "STREAMS", "mcp:commands", ">"});
  auto pending = [&](const std::string& stream) {
    return evalJson(redis, "return redis.call('XPENDING', KEYS[1], 'g')[1]", {stream}, {});
  };
  REQUIRE(pending("mcp:commands") == "1");
  auto forward = [&](const std::string& configPrefix, std::vector<std::string> candidates) {
    std::vector<std::string> argv = {"EVAL",
                                     control::forwardScript(),
                                     "2",
                                     "mcp:commands",
                                     "mcp:members",
                                     "g",
                                     *id,
                                     "s1",
                                     configPrefix,
                                     "mcp:member-commands:",
                                     std::to_string(candidates.size())};
    argv.insert(argv.end(), candidates.begin(), candidates.end());
    argv.insert(argv.end(), {"op", "check", "server_id", "s1", "origin", *id, "hops", "1"});
    return redis.query(argv);
  };
  // Its owner's announcement expired: not moved (nobody would read it there), still pending.
  CHECK(forward("", {"dead-one"}) == "-2");
  CHECK(pending("mcp:commands") == "1");
  // A config server: to the first live member that declares it.
  CHECK(forward("mcp:member-config:", {"live-one"}) == "-1");  // it does not
  redis.query({"HSET", "mcp:member-config:live-one", "s1", std::string(64, 'a')});
  CHECK(forward("mcp:member-config:", {"dead-one", "live-one"}) == "1");
  CHECK(pending("mcp:commands") == "0");
  CHECK(redis.query({"XLEN", "mcp:member-commands:live-one"}) == "1");
  // Moved already: never twice.
  CHECK(forward("", {"live-one"}) == "0");
  CHECK(redis.query({"XLEN", "mcp:member-commands:live-one"}) == "1");

  // A `check *` split among the live members, its parts counted once each.
  const auto all = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "*"});
  REQUIRE(all);
  redis.query({"XREADGROUP", "GROUP", "g", "reader", "STREAMS", "mcp:commands", ">"});
  const std::string parts = "mcp:command-parts:" + *all;
  CHECK(redis.query({"EVAL", control::splitScript(), "3", "mcp:commands", parts, "mcp:members", "g",
                     *all, *all, "mcp:member-commands:", "2", "live-one", "dead-one"}) == "1");
  CHECK(redis.query({"HGET", parts, "parts"}) == "1");
  redis.query({"XGROUP", "CREATE", "mcp:member-commands:live-one", "g", "0"});
  redis.query(
      {"XREADGROUP", "GROUP", "g", "live-one", "STREAMS", "mcp:member-commands:live-one", ">"});
  const auto partEntry =
      redis.query({"EVAL", "local r = redis.call('XRANGE', KEYS[1], '-', '+') return r[#r][1]", "1",
                   "mcp:member-commands:live-one"});
  REQUIRE(partEntry);
  // A forged count is read as 0, never failing the script half-way.
  redis.query({"HSET", parts, "servers", "lots"});
  Subscriber sub(redis.port(), {"mcp:health"});
  auto done = [&] {
    return redis.query({"EVAL", control::partDoneScript(), "2", "mcp:member-commands:live-one",
                        parts, "g", *partEntry, "7", "mcp:health", "{\"servers\":", "}"});
  };
  CHECK(done() == "2");
  auto m = sub.waitFor([](const Message&) { return true; }, std::chrono::seconds(5));
  REQUIRE(m);
  CHECK(m->payload == "{\"servers\":7}");
  CHECK(redis.query({"EXISTS", parts}) == "0");
  CHECK(done() == "0");  // counted already: no second command_done
  CHECK_FALSE(
      sub.waitFor([](const Message&) { return true; }, std::chrono::milliseconds(500)).has_value());
}
