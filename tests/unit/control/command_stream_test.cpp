#include "control/command_stream.hpp"

#include <catch2/catch.hpp>

#include "loop/sim_loop.hpp"
#include "redis/fake_redis.hpp"

using namespace mcphd;
using mcphd::testing::FakeRedis;

namespace {

// A connection whose replies the test gives, one outstanding command at a time, like a real
// connection with a blocking XREADGROUP on it.
struct HeldRedis : redis::Commands {
  struct Held {
    std::vector<std::string> argv;
    std::function<void(Result<redis::Reply>)> done;
  };
  bool up = false;
  std::function<void(bool)> listener;
  std::vector<Held> held;

  bool ready() const override { return up; }
  void onReadyChange(std::function<void(bool)> l) override { listener = std::move(l); }
  bool command(std::vector<std::string> argv,
               std::function<void(Result<redis::Reply>)> done) override {
    if (!up) {
      return false;
    }
    held.push_back({std::move(argv), std::move(done)});
    return true;
  }
  void setUp(bool u) {
    up = u;
    if (listener) {
      listener(u);
    }
  }
  // Answers the oldest command, which must be `op`, with `reply`.
  void answer(const std::string& op, redis::Reply reply) {
    REQUIRE_FALSE(held.empty());
    Held h = std::move(held.front());
    held.erase(held.begin());
    REQUIRE(h.argv[0] == op);
    h.done(std::move(reply));
  }
  size_t outstanding(const std::string& op) const {
    size_t n = 0;
    for (const auto& h : held) {
      n += h.argv[0] == op ? 1 : 0;
    }
    return n;
  }
};

redis::Reply ok() { return redis::Reply{redis::Reply::Type::kStatus, "OK", 0, {}}; }
redis::Reply nil() { return redis::Reply{redis::Reply::Type::kNil, "", 0, {}}; }

struct Sink : scheduler::ResultSink {
  void onReport(const scheduler::CheckReport&) override {}
  void onRemoved(const std::string&, const scheduler::Answers&) override {}
};
struct NoProber : check::Prober {
  std::unique_ptr<check::RunningCheck> start(const registry::ServerSpec&,
                                             std::function<void(mcp::ProbeResult)>) override {
    return nullptr;
  }
};

struct Fixture {
  loop::SimLoop loop;
  SystemRandom random;
  NoProber prober;
  Sink sink;
  scheduler::Scheduler sched{loop, loop, random, prober, sink, 10};
  FakeRedis registryRedis;
  auth::KeyRing keys;
  registry::RedisRegistry registry{
      registryRedis, loop,  keyspace::Keyspace("mcp:"), registry::ServerSpec{}, keys, {},
      sched,         60'000};
  HeldRedis reader;
  FakeRedis writer;
  publish::StatePublisher publisher{writer, loop, keyspace::Keyspace("mcp:"), "member-a"};
  control::CommandStream stream{
      reader, writer, loop, registry, sched, publisher, control::CommandStream::Options{}};

  Fixture() {
    registryRedis.up = true;
    registry.start();
    loop.advance(0);  // the first full read of the (empty) registry
    REQUIRE(registry.loaded());
  }

  // A (re)connect of the reader: group, own pending entries (none).
  void readerComesUp() {
    reader.setUp(true);
    reader.answer("XGROUP", ok());
    reader.answer("XREADGROUP", nil());  // own pending entries: none
  }
};

}  // namespace

TEST_CASE("commands are read even while the answering connection is still down") {
  Fixture f;
  f.stream.start();
  f.readerComesUp();  // the writer (XAUTOCLAIM, answers) is not connected yet
  REQUIRE(f.reader.held.size() == 1);
  CHECK(f.reader.held[0].argv[0] == "XREADGROUP");
  CHECK(std::find(f.reader.held[0].argv.begin(), f.reader.held[0].argv.end(), "BLOCK") !=
        f.reader.held[0].argv.end());
}

TEST_CASE("the periodic claim of abandoned commands never starts a second read loop") {
  Fixture f;
  f.writer.up = true;
  f.stream.start();
  f.readerComesUp();
  // XAUTOCLAIM went to the writer; FakeRedis answers unknown commands with an integer, which
  // reads as "nothing to claim".
  REQUIRE(f.reader.outstanding("XREADGROUP") == 1);
  for (int round = 0; round < 3; ++round) {
    f.loop.advance(60'000);
    f.reader.answer("XREADGROUP", nil());  // the blocking read times out: read again
    CHECK(f.reader.outstanding("XREADGROUP") == 1);
  }
  size_t claims = 0;
  for (const auto& c : f.writer.log) {
    claims += c[0] == "XAUTOCLAIM" ? 1 : 0;
  }
  CHECK(claims == 4);  // at set-up, then once a minute
}

TEST_CASE("no command is read before the registry has been read once") {
  loop::SimLoop loop;
  SystemRandom random;
  NoProber prober;
  Sink sink;
  scheduler::Scheduler sched{loop, loop, random, prober, sink, 10};
  FakeRedis registryRedis;  // down: the registry cannot be read yet
  auth::KeyRing keys;
  registry::RedisRegistry registry{
      registryRedis, loop,  keyspace::Keyspace("mcp:"), registry::ServerSpec{}, keys, {},
      sched,         60'000};
  registryRedis.hashes["mcp:server:late"] = {{"url", "http://127.0.0.1:1/mcp"}};
  registryRedis.sets["mcp:servers"] = {"late"};
  HeldRedis reader;
  FakeRedis writer;
  writer.up = true;
  publish::StatePublisher publisher{writer, loop, keyspace::Keyspace("mcp:"), "member-a"};
  control::CommandStream stream{
      reader, writer, loop, registry, sched, publisher, control::CommandStream::Options{}};
  registry.start();
  stream.start();
  reader.setUp(true);
  loop.advance(5'000);
  CHECK(reader.held.empty());  // not even the consumer group
  registryRedis.up = true;
  loop.advance(300);
  REQUIRE(registry.loaded());
  CHECK(registry.has("late"));
  loop.advance(200);
  REQUIRE(reader.held.size() == 1);
  CHECK(reader.held[0].argv[0] == "XGROUP");
}
