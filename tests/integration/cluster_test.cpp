// Several daemons on one Redis (cluster.enabled): membership.
#include <signal.h>

#include <catch2/catch.hpp>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;

namespace {

DaemonConfig memberConfig(const RedisServer& redis, const FaultServer& fault, const std::string& id,
                          const std::string& ttl) {
  DaemonConfig c;
  c.redisUrl = redis.url();
  c.servers = {{"s1", fault.url("s1", "healthy?tools=2"), {}}};
  c.extra = {"cluster:", "  enabled: true", "  member_id: " + id, "  heartbeat: 500ms",
             "  member_ttl: " + ttl};
  return c;
}

}  // namespace

TEST_CASE(
    "cluster: members announce themselves, mcp-healthctl members lists them, a killed one is gone "
    "after member_ttl and a stopped one at once") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  TestDaemon a(dir, memberConfig(redis, fault, "member-a", "4s"), {}, {}, "a");
  TestDaemon b(dir, memberConfig(redis, fault, "member-b", "4s"), {}, {}, "b");
  INFO("logs: " << a.logPath() << " " << b.logPath());
  REQUIRE(waitUntil(
      [&] {
        return redis.query({"ZCARD", "mcp:members"}) == "2";
      },
      std::chrono::seconds(10)));
  REQUIRE(waitForLog(a.logPath(), "cluster: 2 live members: member-a, member-b", 1,
                     std::chrono::seconds(10)));

  // Both listed, with what they announced: the one server is owned by exactly one of them (both
  // declare it the same way), as soon as both have seen each other.
  std::vector<std::string> ids;
  std::map<std::string, int64_t> owned;
  int reads = 0;
  REQUIRE(waitUntil(
      [&] {
        const std::string file = "members-" + std::to_string(++reads) + ".json";
        REQUIRE(runCtl(dir, {"--redis", redis.url(), "members", "--json"}, file) == 0);
        const std::string text = readFile(dir.file(file));
        Json j(text);
        INFO("members --json: " << text);
        REQUIRE(j.ok);
        auto list = j.root["members"].get_array();
        REQUIRE(list.error() == simdjson::SUCCESS);
        ids.clear();
        owned.clear();
        for (auto m : list.value()) {
          ids.emplace_back(std::string_view(m["member_id"]));
          owned[ids.back()] = int64_t(m["owned"]);
          CHECK(m["heartbeat_at"].is_string());
        }
        return owned.size() == 2 && owned["member-a"] + owned["member-b"] == 1;
      },
      std::chrono::seconds(10)));
  CHECK(ids == std::vector<std::string>{"member-a", "member-b"});
  const std::string owner = owned["member-a"] == 1 ? "member-a" : "member-b";
  REQUIRE(runCtl(dir, {"--redis", redis.url(), "members"}, "members.txt") == 0);
  const std::string table = readFile(dir.file("members.txt"));
  CHECK(table.find("MEMBER") != std::string::npos);
  CHECK(table.find("member-b") != std::string::npos);

  // Every health message says who checked.
  REQUIRE(waitUntil(
      [&] {
        return redis.query({"HGET", "mcp:status", "s1"}).has_value();
      },
      std::chrono::seconds(10)));
  REQUIRE(waitUntil(
      [&] {
        const auto status = redis.query({"HGET", "mcp:status", "s1"});
        return status && status->find(R"("checked_by":")" + owner + "\"") != std::string::npos;
      },
      std::chrono::seconds(10)));

  // kill -9: its announcement stays until it expires (member_ttl 4 s after its last heartbeat),
  // then the survivor drops it.
  const auto killed = Clock::now();
  REQUIRE(b.stop(SIGKILL, std::chrono::seconds(5)));
  REQUIRE(waitUntil(
      [&] {
        return !redis.query({"ZSCORE", "mcp:members", "member-b"});
      },
      std::chrono::seconds(15)));
  const auto goneAfter =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
  CHECK(goneAfter >= 1000);  // at least 3.5 s by design; 1 s leaves a wide margin
  CHECK(waitForLog(a.logPath(), "cluster: 1 live members: member-a", 1, std::chrono::seconds(5)));

  // A clean stop withdraws the announcement at once, long before member_ttl.
  REQUIRE(a.stop(SIGTERM, std::chrono::seconds(5)) == 0);
  CHECK_FALSE(redis.query({"ZSCORE", "mcp:members", "member-a"}));
  CHECK(redis.query({"EXISTS", "mcp:member:member-a"}) == "0");
  REQUIRE(runCtl(dir, {"--redis", redis.url(), "members"}, "none.txt") == 0);
  CHECK(readFile(dir.file("none.txt")).find("no live members") != std::string::npos);
}
