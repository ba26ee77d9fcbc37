#include "control/command_stream.hpp"

#include <catch2/catch.hpp>

#include "cluster/ownership.hpp"
#include "loop/sim_loop.hpp"
#include "redis/fake_redis.hpp"
#include "redis/fake_subscriber.hpp"

using namespace mcphd;
using mcphd::testing::FakeRedis;
using mcphd::testing::FakeSubscriber;

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

namespace {

struct NoOwned : cluster::OwnedServers {
  void own(const registry::ServerSpec&, Trigger) override {}
  void adopt(const registry::ServerSpec&, Trigger,
             const std::optional<scheduler::LastCheck>&) override {}
  void release(const std::string&) override {}
  void remove(const std::string&) override {}
  void readPublished(
      std::vector<std::string>,
      std::function<void(std::optional<std::map<std::string, cluster::Published>>)> done) override {
    done(std::nullopt);
  }
  void forget(const std::string&) override {}
};

size_t sent(const FakeRedis& r, const std::string& op) {
  size_t n = 0;
  for (const auto& c : r.log) {
    n += c[0] == op ? 1 : 0;
  }
  return n;
}

redis::Reply pendingEntry(const std::string& id) {
  using T = redis::Reply::Type;
  redis::Reply entry{T::kArray, "", 0, {}};
  entry.elements = {{T::kString, id, 0, {}},
                    {T::kString, "mcp-healthd@member-b", 0, {}},
                    {T::kInteger, "", 100, {}},
                    {T::kInteger, "", 1, {}}};
  return redis::Reply{T::kArray, "", 0, {entry}};
}

}  // namespace

// The daemon's stop closes the connection while a take-over waits for a reply: every later step
// is then refused, and the take-over must still end (it once called a callback it had moved
// away, and std::terminate stopped the daemon with an exit status that was not 0).
TEST_CASE("a take-over of a member's commands ends when the connection goes away midway") {
  const bool inClaim = GENERATE(false, true);  // refused at XCLAIM, or at the next stream
  Fixture f;
  NoOwned owned;
  cluster::Ownership ownership(owned, f.loop, f.loop, "member-a", 6'000);
  FakeSubscriber control;
  f.stream.setCluster(ownership, "member-a", control, f.loop);
  f.writer.up = true;
  f.writer.holdReplies = true;
  f.stream.membersLeft({"member-b"}, {"member-a"});
  REQUIRE(f.writer.held.size() == 1);
  REQUIRE(f.writer.log.back()[0] == "XPENDING");
  f.writer.refuseSends = true;  // going away: hiredis refuses before it says so
  if (inClaim) {
    f.writer.held[0].second = pendingEntry("1-0");
    f.writer.release();  // entries pending: their XCLAIM is refused
  } else {
    f.writer.failHeld();  // no reply: on to the next stream, whose XPENDING is refused
  }
  CHECK(f.writer.held.empty());
  CHECK(sent(f.writer, "XCLAIM") == 0);

  // Back: the take-over is not stuck as "under way", the next sweep starts it again.
  f.writer.refuseSends = false;
  f.writer.holdReplies = false;
  f.stream.membersLeft({"member-b"}, {"member-a"});
  CHECK(sent(f.writer, "XPENDING") == 3);  // its stream and the member's own, after the first
  CHECK(sent(f.writer, "XGROUP") == 1);    // DELCONSUMER once all is read
}

// A forwarded command in this member's own stream whose answer was lost with the answering
// connection (the reading one stayed up) is pending here, and no other member reads that
// stream: the periodic claim takes it back and carries it out, answered under its origin id.
TEST_CASE("a member claims back the entries of its own stream left unanswered, and answers them") {
  Fixture f;
  NoOwned owned;
  cluster::Ownership ownership(owned, f.loop, f.loop, "member-a", 6'000);
  FakeSubscriber control;
  f.stream.setCluster(ownership, "member-a", control, f.loop);
  f.writer.up = true;
  f.stream.start();
  f.reader.setUp(true);
  f.reader.answer("XGROUP", ok());                   // the command stream
  f.reader.answer("XGROUP", ok());                   // this member's own
  f.reader.answer("XREADGROUP", nil());              // pending in the command stream: none
  f.reader.answer("XREADGROUP", nil());              // pending in its own: none
  REQUIRE(f.reader.outstanding("XREADGROUP") == 1);  // reading new commands
  auto claimsOf = [&](bool own) {
    size_t n = 0;
    for (const auto& c : f.writer.log) {
      n += c[0] == "XAUTOCLAIM" && (c[1] != "mcp:commands") == own ? 1 : 0;
    }
    return n;
  };
  CHECK(claimsOf(false) == 1);  // at set-up: abandoned entries of the command stream
  CHECK(claimsOf(true) == 0);

  // A minute later (claimIdleMs): its own stream is claimed too; one entry is found there.
  f.writer.holdReplies = true;
  f.loop.advance(60'000);
  REQUIRE(claimsOf(true) == 1);
  using T = redis::Reply::Type;
  const std::string origin = "1700000000000-7";
  bool found = false;
  for (size_t i = 0; i < f.writer.held.size(); ++i) {
    // (held replies and logged commands are in the same order from the moment of holding)
    const auto& argv = f.writer.log[f.writer.log.size() - f.writer.held.size() + i];
    if (argv[0] == "XAUTOCLAIM" && argv[1] != "mcp:commands") {
      redis::Reply fields{T::kArray, "", 0, {}};
      for (const char* s : {"op", "check", "server_id", "nope", "origin", origin.c_str()}) {
        fields.elements.push_back({T::kString, s, 0, {}});
      }
      redis::Reply entry{T::kArray, "", 0, {{T::kString, "5-0", 0, {}}, fields}};
      redis::Reply entries{T::kArray, "", 0, {entry}};
      f.writer.held[i].second = redis::Reply{
          T::kArray, "", 0, {{T::kString, "0-0", 0, {}}, entries, {T::kArray, "", 0, {}}}};
      found = true;
    }
  }
  REQUIRE(found);
  const size_t before = f.writer.log.size();
  f.writer.holdReplies = false;
  f.writer.release();
  f.loop.advance(0);
  // Carried out: an unknown server, so a command_error answering the command's origin id.
  bool answered = false;
  for (size_t i = before; i < f.writer.log.size(); ++i) {
    for (const auto& arg : f.writer.log[i]) {
      answered = answered || (arg.find(origin) != std::string::npos &&
                              arg.find("unknown server") != std::string::npos);
    }
  }
  CHECK(answered);
}
