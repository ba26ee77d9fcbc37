// The Redis store of tool baselines (src/approval/redis_baseline_store.cpp): its Lua run by a real
// redis-server, against records whoever can write to Redis may leave there.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "approval/redis_baseline_store.hpp"
#include "auth/key_ring.hpp"
#include "common/clock.hpp"
#include "harness.hpp"
#include "loop/uv_loop.hpp"
#include "mcp/probe_result.hpp"
#include "redis/redis_client.hpp"
#include "redis/redis_url.hpp"

using namespace mcphd;
using namespace mcphd::itest;

namespace {

mcp::Tool tool(const std::string& name, const std::string& description) {
  return mcp::makeTool(name, R"({"name":")" + name + R"(","description":")" + description + "\"}");
}

}  // namespace

TEST_CASE(
    "baseline store: learn writes only where none is, reads check the record, and a key "
    "that is no hash, or too large, is not valid") {
  REQUIRE(sodium_init() >= 0);
  TempDir dir;
  RedisServer redis(dir);
  auto endpoint = redis::parseUrl(redis.url());
  REQUIRE(endpoint);
  auth::KeyRing keys;
  REQUIRE(keys.addKey("k1", auth::generateKeyBase64()));
  REQUIRE(keys.setActive("k1"));
  loop::UvLoop loop;
  SystemRandom random;
  {
    redis::RedisClient client(loop, *endpoint, random, "baselines");
    approval::RedisBaselineStore store(client, keyspace::Keyspace("mcp:"), &keys);
    client.start();
    REQUIRE(runUntil(loop, [&] { return client.ready(); }));

    const auto read = [&](const std::string& id, bool definitions) {
      std::optional<Result<baseline::Record>> got;
      store.read(id, definitions, [&](Result<baseline::Record> r) { got = std::move(r); });
      REQUIRE(runUntil(loop, [&] { return got.has_value(); }));
      return std::move(*got);
    };
    const auto learn = [&](const std::string& id, const baseline::Baseline& b) {
      std::optional<Result<bool>> got;
      store.learn(id, b, [&](Result<bool> r) { got = std::move(r); });
      REQUIRE(runUntil(loop, [&] { return got.has_value(); }));
      return std::move(*got);
    };

    CHECK(read("none", true)->state == baseline::Record::State::kAbsent);

    // 600 tools: more values than one Lua unpack() takes at once.
    std::vector<mcp::Tool> tools;
    for (int i = 0; i < 600; ++i) {
      tools.push_back(tool("t" + std::to_string(i), "tool " + std::to_string(i)));
    }
    auto b = baseline::fromTools(tools, "2026-12-06T12:00:00.000Z", "tofu");
    REQUIRE(baseline::sign("srv", b, keys));
    auto written = learn("srv", b);
    REQUIRE(written);
    CHECK(*written);
    CHECK(redis.query({"HLEN", "mcp:baseline:srv"}) == std::to_string(6 + 600));

    auto full = read("srv", true);
    REQUIRE(full);
    REQUIRE(full->state == baseline::Record::State::kValid);
    CHECK(full->baseline == b);
    auto light = read("srv", false);
    REQUIRE(light->state == baseline::Record::State::kValid);
    CHECK(light->baseline.definitions.empty());
    CHECK(light->baseline.toolsHash == b.toolsHash);

    // Another learned set does not replace it (an approval made meanwhile wins).
    auto other = baseline::fromTools({tool("x", "X")}, "2026-12-06T12:00:01.000Z", "tofu");
    REQUIRE(baseline::sign("srv", other, keys));
    CHECK_FALSE(*learn("srv", other));
    CHECK(read("srv", false)->baseline.toolsHash == b.toolsHash);

    // Whoever can write to Redis: a changed approver, a string instead of a hash, a huge record.
    REQUIRE(redis.query({"HSET", "mcp:baseline:srv", "approved_by", "mallory"}));
    auto forged = read("srv", false);
    CHECK(forged->state == baseline::Record::State::kInvalid);
    CHECK(forged->reason == "the signature does not match (key 'k1')");
    REQUIRE(redis.query({"SET", "mcp:baseline:str", "approved"}));
    auto str = read("str", true);
    REQUIRE(str);
    CHECK(str->state == baseline::Record::State::kInvalid);
    CHECK(str->reason == "the key is a string, not a hash");
    REQUIRE(redis.query({"EVAL",
                         "for i = 1, 40 do redis.call('HSET', KEYS[1], 'def:' .. i, "
                         "string.rep('x', 1024 * 1024)) end return 1",
                         "1", "mcp:baseline:huge"}));
    auto huge = read("huge", true);
    REQUIRE(huge);
    CHECK(huge->state == baseline::Record::State::kInvalid);
    CHECK(huge->reason.find("more than the 32 MiB allowed") != std::string::npos);
    // Without its definitions the same record is small: read, and refused for what it lacks.
    auto hugeLight = read("huge", false);
    CHECK(hugeLight->state == baseline::Record::State::kInvalid);
    CHECK(hugeLight->reason == "it is not a version 1 baseline (field v)");
  }
}
