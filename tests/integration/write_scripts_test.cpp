// The publisher's write scripts (src/publish/write_scripts.cpp), their Lua run by a real
// redis-server: one sequence per server, whoever writes and whatever Redis lost.
#include "publish/write_scripts.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "common/clock.hpp"
#include "harness.hpp"
#include "keyspace/keyspace.hpp"
#include "loop/uv_loop.hpp"
#include "publish/state_publisher.hpp"
#include "redis/redis_client.hpp"
#include "redis/redis_url.hpp"

using namespace mcphd;
using namespace mcphd::itest;

namespace {

// EVAL of one script on server `id` with KEYS[4...] = `streams` (each command entry's stream and
// its answered marker) and ARGV[2...] = `args`; the reply (the publish script's: [seq, command
// ids, error]).
std::optional<std::vector<std::string>> evalAll(const RedisServer& redis, const std::string& script,
                                                const std::string& id,
                                                std::vector<std::string> args,
                                                const std::vector<std::string>& streams = {}) {
  std::vector<std::string> argv{"EVAL",    script,       std::to_string(3 + streams.size()),
                                "mcp:seq", "mcp:status", "mcp:tools:" + id};
  argv.insert(argv.end(), streams.begin(), streams.end());
  argv.push_back(id);
  argv.insert(argv.end(), args.begin(), args.end());
  return redis.queryAll(argv);
}
// The same, its first (or only) value: the seq.
std::optional<std::string> eval(const RedisServer& redis, const std::string& script,
                                const std::string& id, std::vector<std::string> args) {
  auto r = evalAll(redis, script, id, std::move(args));
  if (!r || r->empty()) {
    return std::nullopt;
  }
  return r->front();
}

// A health message from a writer that knows `known` as the server's highest seq, answering no
// command.
std::optional<std::string> publishOne(const RedisServer& redis, const std::string& id,
                                      const std::string& known = "0") {
  return eval(redis, publish::publishScript(), id,
              {known, "mcp:health", R"({"server_id":")" + id + R"(","seq":)", "", "}", "0", "0"});
}

scheduler::CheckReport healthy(const std::string& id) {
  scheduler::CheckReport r;
  r.serverId = id;
  r.status = scheduler::Status::kHealthy;
  r.trigger = Trigger::kSchedule;
  r.probe.initialized = true;
  r.probe.toolsComplete = true;
  r.probe.tools = {mcp::makeTool("t1", R"({"name":"t1"})")};
  r.probe.toolsHash = mcp::computeToolsHash(r.probe.tools);
  return r;
}

// The seq in the stored status of `id` ("" without one).
std::string storedSeq(const RedisServer& redis, const std::string& id) {
  auto v = redis.query({"HGET", "mcp:status", id});
  if (!v) {
    return "";
  }
  const size_t at = v->find("\"seq\":");
  return at == std::string::npos
             ? "?"
             : v->substr(at + 6, v->find_first_not_of("0123456789", at + 6) - at - 6);
}

}  // namespace

TEST_CASE(
    "write scripts: seq is max(counter, stored seq) + 1, so it survives a Redis that lost either, "
    "and junk left by others counts as none") {
  TempDir dir;
  RedisServer redis(dir);
  CHECK(publishOne(redis, "a") == "1");
  CHECK(publishOne(redis, "a") == "2");
  CHECK(redis.query({"HGET", "mcp:seq", "a"}) == "2");
  CHECK(redis.query({"HGET", "mcp:status", "a"}) == R"({"server_id":"a","seq":2})");

  redis.query({"DEL", "mcp:seq"});  // lost the counter, kept the status
  CHECK(publishOne(redis, "a") == "3");
  redis.query({"HDEL", "mcp:status", "a"});  // lost the status, kept the counter
  CHECK(publishOne(redis, "a") == "4");
  CHECK(publishOne(redis, "b") == "1");  // one sequence per server

  // What is not a whole number in [0, 2^53) is no seq; it neither fails the script nor stops it.
  for (const char* junk : {"not json", "null", "[1,2]", R"({"seq":-3})", R"({"seq":2.5})",
                           R"({"seq":1e400})", R"({"seq":{"a":1}})", R"({"seq":"x"})"}) {
    INFO(junk);
    redis.query({"HSET", "mcp:seq", "j", "1e999"});
    redis.query({"HSET", "mcp:status", "j", junk});
    CHECK(publishOne(redis, "j") == "1");
  }
  redis.query({"HSET", "mcp:status", "k", R"({"seq":"41"})"});
  CHECK(publishOne(redis, "k") == "42");

  // A tool change: the snapshot carries the check's seq.
  CHECK(eval(redis, publish::publishScript(), "a",
             {"0", "mcp:health", R"({"server_id":"a","seq":)", "", "}", "0", "0", "mcp:tools",
              R"({"type":"tools","seq":)", "}", R"({"server_id":"a","seq":)", R"(,"tools":[]})"}) ==
        "5");
  CHECK(redis.query({"GET", "mcp:tools:a"}) == R"({"server_id":"a","seq":5,"tools":[]})");

  // A removal deletes the status and the snapshot, keeps the counter: the server continues.
  CHECK(eval(redis, publish::removeScript(), "a",
             {"0", "mcp:health", R"({"type":"removed","server_id":"a","seq":)", "", "}", "0",
              "0"}) == "6");
  CHECK(redis.query({"HEXISTS", "mcp:status", "a"}) == "0");
  CHECK(redis.query({"EXISTS", "mcp:tools:a"}) == "0");
  CHECK(publishOne(redis, "a") == "7");

  // Redis lost both: numbering continues after what the writer knows.
  redis.query({"FLUSHALL"});
  CHECK(publishOne(redis, "a", "7") == "8");
  redis.query({"FLUSHALL"});
  CHECK(eval(redis, publish::removeScript(), "a",
             {"8", "mcp:health", R"({"type":"removed","server_id":"a","seq":)", "", "}", "0",
              "0"}) == "9");
}

TEST_CASE(
    "write scripts: a message names a command only when its script is the one that acknowledges "
    "the command's entry, so a command carried out twice is answered once") {
  TempDir dir;
  RedisServer redis(dir);
  Subscriber sub(redis.port(), {"mcp:health"});
  // Two entries read (pending) in the command stream, one in a member's stream.
  REQUIRE(redis.query({"XGROUP", "CREATE", "mcp:commands", "mcp-healthd", "$", "MKSTREAM"}));
  REQUIRE(
      redis.query({"XGROUP", "CREATE", "mcp:member-commands:m", "mcp-healthd", "$", "MKSTREAM"}));
  const auto one = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "a"});
  const auto two = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "a"});
  // An id of its own: entry ids are per stream, and one made in the same millisecond as `one`
  // would be the same text (the messages are told apart by it).
  const auto moved =
      redis.query({"XADD", "mcp:member-commands:m", "5-5", "op", "check", "server_id", "a"});
  REQUIRE((one && two && moved));
  redis.query({"XREADGROUP", "GROUP", "mcp-healthd", "x", "STREAMS", "mcp:commands",
               "mcp:member-commands:m", ">", ">"});
  auto pending = [&](const std::string& stream) {
    return redis.query(
        {"EVAL", "return redis.call('XPENDING', KEYS[1], 'mcp-healthd')[1]", "1", stream});
  };
  REQUIRE(pending("mcp:commands") == "2");
  auto q = [](const std::string& id) { return "\"" + id + "\""; };
  auto marker = [](const std::string& stream, const std::string& entry) {
    return keyspace::Keyspace("mcp:").answered(stream, entry);
  };
  const std::string head = R"({"server_id":"a","seq":)";
  // A health message answering `one`, the moved entry, and a `check *` named as it is.
  auto publishAnswering = [&](const std::string& entry) {
    return evalAll(redis, publish::publishScript(), "a",
                   {"0", "mcp:health", head, R"(,"x":1)", "}", "2", "mcp-healthd", entry, "0",
                    q(entry), "mcp-healthd", *moved, "1", q(*moved), "1", q("9-9")},
                   {"mcp:commands", marker("mcp:commands", entry), "mcp:member-commands:m",
                    marker("mcp:member-commands:m", *moved)});
  };
  auto first = publishAnswering(*one);
  REQUIRE(first);
  REQUIRE(first->size() == 3);
  CHECK((*first)[2].empty());  // nothing refused
  CHECK(redis.query({"GET", "mcp:answered:" + *one + ":commands"}) == "1");
  CHECK(redis.query({"GET", "mcp:answered:" + *moved + ":member-commands:m"}) == "1");
  const auto ttl = redis.query({"PTTL", "mcp:answered:" + *one + ":commands"});
  REQUIRE(ttl);
  CHECK(std::stoll(*ttl) > 86'000'000);  // kept a day
  const std::string ids = ",\"command_id\":" + q(*one) + ",\"command_ids\":[" + q(*one) + "," +
                          q(*moved) + "," + q("9-9") + "]";
  CHECK((*first)[0] == "1");
  CHECK((*first)[1] == ids);
  CHECK(redis.query({"HGET", "mcp:status", "a"}) == head + "1,\"x\":1" + ids + "}");
  CHECK(pending("mcp:commands") == "1");
  CHECK(pending("mcp:member-commands:m") == "0");
  CHECK(redis.query({"XLEN", "mcp:member-commands:m"}) == "0");  // answered: deleted
  CHECK(redis.query({"XLEN", "mcp:commands"}) == "2");           // the group's stream is kept

  // The same entries answered again (another member carried the commands out too): the message
  // is published, without them; the `check *` (answered by its command_done) is named.
  auto again = publishAnswering(*one);
  REQUIRE(again);
  CHECK((*again)[0] == "2");
  CHECK((*again)[1] == ",\"command_id\":" + q("9-9") + ",\"command_ids\":[" + q("9-9") + "]");
  auto second = publishAnswering(*two);
  REQUIRE(second);
  CHECK((*second)[1] ==
        ",\"command_id\":" + q(*two) + ",\"command_ids\":[" + q(*two) + "," + q("9-9") + "]");
  CHECK(pending("mcp:commands") == "0");

  // A removal answers the same way.
  const auto three = redis.query({"XADD", "mcp:commands", "*", "op", "remove", "server_id", "a"});
  REQUIRE(three);
  redis.query({"XREADGROUP", "GROUP", "mcp-healthd", "x", "STREAMS", "mcp:commands", ">"});
  auto removal = [&] {
    return evalAll(redis, publish::removeScript(), "a",
                   {"0", "mcp:health", R"({"type":"removed","server_id":"a","seq":)", "", "}", "1",
                    "mcp-healthd", *three, "0", q(*three), "0"},
                   {"mcp:commands", marker("mcp:commands", *three)});
  };
  CHECK(removal() ==
        std::vector<std::string>{
            "4", ",\"command_id\":" + q(*three) + ",\"command_ids\":[" + q(*three) + "]", ""});
  CHECK(removal() == std::vector<std::string>{"5", "", ""});

  // command_error and command_done: published only by the first answer.
  const auto four = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "nope"});
  REQUIRE(four);
  redis.query({"XREADGROUP", "GROUP", "mcp-healthd", "x", "STREAMS", "mcp:commands", ">"});
  auto answer = [&](const std::string& stream, const std::string& text) {
    return redis.queryAll({"EVAL", publish::answerScript(), "2", stream, marker(stream, *four),
                           "mcp-healthd", *four, "0", "mcp:health", text});
  };
  CHECK(answer("mcp:commands", "error-1") == std::vector<std::string>{"1", ""});
  CHECK(answer("mcp:commands", "error-2") == std::vector<std::string>{"0", ""});
  // A key that is no stream any more (replaced by anyone who can write Redis): nobody can read
  // the entry again, so the answer is published, nothing fails, and the refusal is reported.
  redis.query({"SET", "junk", "x"});
  auto refused = answer("junk", "error-3");
  REQUIRE(refused);
  REQUIRE(refused->size() == 2);
  CHECK((*refused)[0] == "1");
  CHECK((*refused)[1].find("WRONGTYPE") != std::string::npos);
  // A stream Redis lost (a restart without persistence): the same.
  CHECK(answer("mcp:lost", "error-4") == std::vector<std::string>{"1", ""});
  // And one Redis lost and made anew (its group created again) that has delivered newer
  // commands since: the entry is not pending, and no marker says it was answered.
  redis.query({"DEL", "mcp:commands", marker("mcp:commands", *four)});
  REQUIRE(redis.query({"XGROUP", "CREATE", "mcp:commands", "mcp-healthd", "$", "MKSTREAM"}));
  REQUIRE(redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "later"}));
  redis.query({"XREADGROUP", "GROUP", "mcp-healthd", "x", "STREAMS", "mcp:commands", ">"});
  CHECK(answer("mcp:commands", "error-5") == std::vector<std::string>{"1", ""});
  CHECK(answer("mcp:commands", "error-6") == std::vector<std::string>{"0", ""});
  auto junk =
      evalAll(redis, publish::publishScript(), "a",
              {"0", "mcp:health", head, "", "}", "1", "mcp-healthd", "1-1", "1", q("1-1"), "0"},
              {"junk", marker("junk", "1-1")});
  REQUIRE(junk);
  CHECK((*junk)[1] == ",\"command_id\":" + q("1-1") + ",\"command_ids\":[" + q("1-1") + "]");
  CHECK((*junk)[2].find("WRONGTYPE") != std::string::npos);

  // What was published, in order: each command named by one message.
  std::vector<std::string> seen;
  while (auto m = sub.waitFor([](const Message&) { return true; }, std::chrono::seconds(2))) {
    seen.push_back(m->payload);
    if (seen.size() == 10) {
      break;
    }
  }
  REQUIRE(seen.size() == 10);
  auto named = [&](const std::string& id) {
    size_t n = 0;
    for (const auto& m : seen) {
      n += m.find(q(id)) != std::string::npos ? 1 : 0;
    }
    return n;
  };
  CHECK(named(*one) == 1);
  CHECK(named(*two) == 1);
  CHECK(named(*moved) == 1);
  CHECK(named(*three) == 1);
  CHECK(seen[5] == "error-1");
  CHECK(seen[6] == "error-3");
  CHECK(seen[7] == "error-4");
  CHECK(seen[8] == "error-5");
}

TEST_CASE("write scripts: a refill rewrites a status only when Redis holds none as new") {
  TempDir dir;
  RedisServer redis(dir);
  auto refill = [&](const std::string& seq, const std::string& known) {
    return eval(redis, publish::refillScript(), "a",
                {R"({"server_id":"a","seq":)", R"(,"mine":true})", seq, known});
  };
  REQUIRE(publishOne(redis, "a") == "1");
  REQUIRE(publishOne(redis, "a") == "2");
  CHECK(refill("1", "1") == "0");  // Redis holds a newer one (another member's)
  CHECK(refill("2", "2") == "0");  // the same one
  CHECK(storedSeq(redis, "a") == "2");
  CHECK(refill("0", "1") == "0");  // ours unconfirmed, Redis holds one past what we know: leave it
  CHECK(refill("3", "3") == "3");  // ours is newer (Redis lost it)
  CHECK(redis.query({"HGET", "mcp:status", "a"}) == R"({"server_id":"a","seq":3,"mine":true})");
  CHECK(redis.query({"HGET", "mcp:seq", "a"}) == "3");
  CHECK(refill("0", "3") == "4");  // unconfirmed, and Redis holds only what we knew: written
  CHECK(redis.query({"HGET", "mcp:seq", "a"}) == "4");

  redis.query({"FLUSHALL"});       // a restart without persistence
  CHECK(refill("0", "7") == "8");  // unconfirmed: after everything the writer knows of
  CHECK(redis.query({"HGET", "mcp:seq", "a"}) == "8");
  redis.query({"FLUSHALL"});
  CHECK(refill("5", "5") == "5");
  CHECK(publishOne(redis, "a") == "6");

  // Removed meanwhile (by another member): not brought back, confirmed or not.
  REQUIRE(eval(redis, publish::removeScript(), "a",
               {"0", "mcp:health", R"({"type":"removed","server_id":"a","seq":)", "", "}", "0",
                "0"}) == "7");
  CHECK(refill("6", "6") == "0");
  CHECK(refill("0", "6") == "0");
  CHECK(redis.query({"HEXISTS", "mcp:status", "a"}) == "0");
}

TEST_CASE(
    "write scripts: two publishers on one Redis give one server one strictly increasing seq, "
    "through EVALSHA, also after SCRIPT FLUSH and a Redis restart") {
  TempDir dir;
  RedisServer redis(dir);
  auto endpoint = redis::parseUrl(redis.url());
  REQUIRE(endpoint);
  loop::UvLoop loop;
  SystemRandom random;
  {
    redis::RedisClient ca(loop, *endpoint, random, "a");
    redis::RedisClient cb(loop, *endpoint, random, "b");
    publish::StatePublisher a(ca, loop, keyspace::Keyspace("mcp:"), "member-a");
    publish::StatePublisher b(cb, loop, keyspace::Keyspace("mcp:"), "member-b");
    bool refilledA = false;
    a.onRefilled([&] { refilledA = true; });
    ca.start();
    cb.start();
    REQUIRE(runUntil(loop, [&] { return refilledA && cb.ready(); }));

    // Alternating writers: 1..6, each stored value from the one that wrote it.
    for (int i = 1; i <= 6; ++i) {
      (i % 2 == 1 ? a : b).onReport(healthy("s"));
      REQUIRE(runUntil(loop, [&] { return storedSeq(redis, "s") == std::to_string(i); }));
      auto stored = redis.query({"HGET", "mcp:status", "s"});
      CHECK(stored->find(i % 2 == 1 ? R"("checked_by":"member-a")"
                                    : R"("checked_by":"member-b")") != std::string::npos);
    }
    auto stats = redis.query({"INFO", "commandstats"});
    REQUIRE(stats);
    CHECK(stats->find("cmdstat_evalsha:calls=") != std::string::npos);
    // Each wrote the tools with its first result (b knew of none): the snapshot is b's, seq 2.
    CHECK(redis.query({"GET", "mcp:tools:s"})->find(R"("seq":2,)") != std::string::npos);

    // The scripts are gone from Redis: the next write is sent again as EVAL.
    REQUIRE(redis.query({"SCRIPT", "FLUSH"}) == "OK");
    a.onReport(healthy("s"));
    REQUIRE(runUntil(loop, [&] { return storedSeq(redis, "s") == "7"; }));

    // Redis restarts empty: member a writes its latest state back (seq 7, no event) and b
    // continues after it.
    refilledA = false;
    redis.stop();
    redis.start();
    REQUIRE(runUntil(loop, [&] { return refilledA && cb.ready(); }));
    CHECK(storedSeq(redis, "s") == "7");
    b.onReport(healthy("s"));
    REQUIRE(runUntil(loop, [&] { return storedSeq(redis, "s") == "8"; }));
    CHECK(redis.query({"HGET", "mcp:seq", "s"}) == "8");
    ca.shutdown(100, [] {});
    cb.shutdown(100, [] {});
    runUntil(loop, [&] { return !ca.ready() && !cb.ready(); });
  }
  REQUIRE(loop.close());
}
