// Several daemons on one Redis (cluster.enabled): commands. Whichever member reads a command,
// the member that checks its server carries it out, and it is answered exactly once — also when
// that member is killed right after the command was written.
#include <signal.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "cluster/rendezvous.hpp"
#include "harness.hpp"

using namespace mcphd::itest;

namespace {

constexpr int kConfigServers = 30;

DaemonConfig memberConfig(const RedisServer& redis, const FaultServer& fault,
                          const std::string& id) {
  DaemonConfig c;
  c.redisUrl = redis.url();
  c.defaults = {"interval: 1m", "timeout: 2s"};
  for (int i = 0; i < kConfigServers; ++i) {
    const std::string name = "cfg-" + std::to_string(i);
    c.servers.push_back({name, fault.url(name, "healthy?tools=1"), {}});
  }
  c.extra = {"cluster:", "  enabled: true", "  member_id: " + id, "  heartbeat: 500ms",
             "  member_ttl: 2s"};
  return c;
}

// Every message on mcp:health, in order.
struct Log {
  std::vector<std::string> messages;
  void collect(Subscriber& sub, std::chrono::milliseconds during) {
    sub.waitFor(
        [&](const Message& m) {
          messages.push_back(m.payload);
          return false;
        },
        during);
  }
  // Waits until a message answers `commandId` (command_ids, or command_id of an error or done).
  bool waitAnswer(Subscriber& sub, const std::string& commandId, std::chrono::milliseconds max) {
    const auto end = Clock::now() + max;
    while (Clock::now() < end) {
      if (answers(commandId) > 0) {
        return true;
      }
      collect(sub, std::chrono::milliseconds(100));
    }
    return answers(commandId) > 0;
  }
  // How many messages answer `commandId`.
  size_t answers(const std::string& commandId) const {
    size_t n = 0;
    for (const auto& m : messages) {
      Json j(m);
      if (!j.ok) {
        continue;
      }
      bool named = str(j.root, "command_id") == commandId;
      auto ids = j.root["command_ids"].get_array();
      if (!named && ids.error() == simdjson::SUCCESS) {
        for (auto id : ids.value()) {
          named = named || std::string_view(id) == commandId;
        }
      }
      n += named ? 1 : 0;
    }
    return n;
  }
  std::optional<std::string> answer(const std::string& commandId) const {
    for (const auto& m : messages) {
      if (m.find("\"" + commandId + "\"") != std::string::npos) {
        return m;
      }
    }
    return std::nullopt;
  }
  // The member that published the latest health message of `server`.
  std::string checkedBy(const std::string& server) const {
    std::string by;
    for (const auto& m : messages) {
      Json j(m);
      if (j.ok && str(j.root, "type") == "health" && str(j.root, "server_id") == server) {
        by = str(j.root, "checked_by");
      }
    }
    return by;
  }
};

std::map<std::string, int64_t> ownedCounts(const RedisServer& redis,
                                           const std::vector<std::string>& members) {
  std::map<std::string, int64_t> out;
  for (const auto& m : members) {
    if (auto v = redis.query({"HGET", "mcp:member:" + m, "owned"})) {
      out[m] = std::stoll(*v);
    }
  }
  return out;
}

}  // namespace

TEST_CASE(
    "cluster: a command is carried out by the member that checks its server, answered exactly "
    "once, also when that member is killed just after it was written") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  Subscriber sub(redis.port(), {"mcp:health"});
  const std::vector<std::string> ids = {"member-a", "member-b", "member-c"};
  // Three servers registered in Redis, next to the config's.
  for (const std::string server : {"reg-0", "reg-1", "reg-2"}) {
    redis.query({"HSET", "mcp:server:" + server, "url", fault.url(server, "healthy?tools=1"),
                 "interval", "1m"});
    redis.query({"SADD", "mcp:servers", server});
  }
  const int total = kConfigServers + 3;
  TestDaemon a(dir, memberConfig(redis, fault, ids[0]), {}, {}, "a");
  TestDaemon b(dir, memberConfig(redis, fault, ids[1]), {}, {}, "b");
  auto c = std::make_unique<TestDaemon>(dir, memberConfig(redis, fault, ids[2]),
                                        std::vector<std::string>{},
                                        std::map<std::string, std::string>{}, "c");
  INFO("logs: " << a.logPath() << " " << b.logPath() << " " << c->logPath());
  Log log;
  const auto started = Clock::now();
  while (true) {
    auto owned = ownedCounts(redis, ids);
    int64_t sum = 0;
    bool each = owned.size() == 3;
    for (const auto& [m, n] : owned) {
      sum += n;
      each = each && n > 0;
    }
    if (each && sum == total && redis.query({"HLEN", "mcp:status"}) == std::to_string(total)) {
      break;
    }
    REQUIRE(Clock::now() - started < std::chrono::seconds(30));
    log.collect(sub, std::chrono::milliseconds(200));
  }
  log.collect(sub, std::chrono::milliseconds(1500));  // every member has its share by now

  // A check of each server: answered once, by the member that checks it (whoever read it).
  std::map<std::string, std::string> commandOf;
  for (int i = 0; i < kConfigServers; i += 3) {
    const std::string server = "cfg-" + std::to_string(i);
    auto id = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", server});
    REQUIRE(id);
    commandOf[server] = *id;
  }
  for (const std::string server : {"reg-0", "reg-1", "reg-2"}) {
    auto id = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", server});
    REQUIRE(id);
    commandOf[server] = *id;
  }
  for (const auto& [server, id] : commandOf) {
    INFO("server " << server << " command " << id);
    REQUIRE(log.waitAnswer(sub, id, std::chrono::seconds(10)));
  }
  log.collect(sub, std::chrono::milliseconds(1500));  // time for a second answer, if any
  std::set<std::string> carriedOutBy;
  for (const auto& [server, id] : commandOf) {
    INFO("server " << server << " command " << id);
    CHECK(log.answers(id) == 1);
    const auto m = log.answer(id);
    REQUIRE(m);
    CHECK(m->find("\"type\":\"health\"") != std::string::npos);
    CHECK(m->find("\"trigger\":\"command\"") != std::string::npos);
    Json j(*m);
    REQUIRE(j.ok);
    carriedOutBy.insert(str(j.root, "checked_by"));
  }
  CHECK(carriedOutBy.size() == 3);  // the servers of every member were asked for

  // check *: one command_done, counting every server once.
  auto all = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "*"});
  REQUIRE(all);
  const auto doneOf = [&](const std::string& id) {
    size_t n = 0;
    int64_t servers = -1;
    for (const auto& m : log.messages) {
      Json j(m);
      if (j.ok && str(j.root, "type") == "command_done" && str(j.root, "command_id") == id) {
        ++n;
        servers = num(j.root, "servers");
      }
    }
    return std::make_pair(n, servers);
  };
  const auto waitDone = Clock::now();
  while (doneOf(*all).first == 0 && Clock::now() - waitDone < std::chrono::seconds(15)) {
    log.collect(sub, std::chrono::milliseconds(100));
  }
  log.collect(sub, std::chrono::milliseconds(1500));
  CHECK(doneOf(*all) == std::make_pair(size_t{1}, int64_t{total}));
  CHECK(redis.query({"EXISTS", "mcp:command-parts:" + *all}) == "0");

  // upsert of a server registered now: checked once for the command, by its owner; remove: one
  // removal answers it, and no member checks the server any more.
  redis.query({"HSET", "mcp:server:reg-new", "url", fault.url("reg-new", "healthy?tools=1"),
               "interval", "2s"});
  redis.query({"SADD", "mcp:servers", "reg-new"});
  auto upsert = redis.query({"XADD", "mcp:commands", "*", "op", "upsert", "server_id", "reg-new"});
  REQUIRE(upsert);
  REQUIRE(log.waitAnswer(sub, *upsert, std::chrono::seconds(10)));
  CHECK(log.answer(*upsert)->find("\"trigger\":\"upsert\"") != std::string::npos);
  auto remove = redis.query({"XADD", "mcp:commands", "*", "op", "remove", "server_id", "reg-new"});
  REQUIRE(remove);
  REQUIRE(log.waitAnswer(sub, *remove, std::chrono::seconds(10)));
  CHECK(log.answer(*remove)->find("\"type\":\"removed\"") != std::string::npos);
  const size_t before = log.messages.size();
  log.collect(sub, std::chrono::milliseconds(5000));  // two intervals of reg-new
  CHECK(log.answers(*upsert) == 1);
  CHECK(log.answers(*remove) == 1);
  for (size_t i = before; i < log.messages.size(); ++i) {
    CHECK(log.messages[i].find("\"server_id\":\"reg-new\"") == std::string::npos);
  }
  CHECK_FALSE(redis.query({"HGET", "mcp:status", "reg-new"}));

  // An unknown server is refused once.
  auto unknown = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "nope"});
  REQUIRE(unknown);
  REQUIRE(log.waitAnswer(sub, *unknown, std::chrono::seconds(10)));
  log.collect(sub, std::chrono::milliseconds(1000));
  CHECK(log.answers(*unknown) == 1);
  CHECK(log.answer(*unknown)->find("command_error") != std::string::npos);

  // kill -9 of member-c just after a check of one of its servers was written: answered exactly
  // once (by member-c before it died, or by the member that takes the server over).
  std::string victim;
  for (int i = 0; i < kConfigServers && victim.empty(); ++i) {
    if (log.checkedBy("cfg-" + std::to_string(i)) == "member-c") {
      victim = "cfg-" + std::to_string(i);
    }
  }
  REQUIRE(!victim.empty());
  auto last = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", victim});
  REQUIRE(last);
  REQUIRE(c->stop(SIGKILL, std::chrono::seconds(5)));
  INFO("command " << *last << " for " << victim);
  if (!log.waitAnswer(sub, *last, std::chrono::seconds(15))) {
    FAIL("no answer; a: "
         << a.logTail(3000) << "\nb: " << b.logTail(3000) << "\nc: " << c->logTail(2000)
         << "\nXPENDING mcp:commands: "
         << redis
                .query({"EVAL",
                        "return cjson.encode(redis.call('XPENDING', KEYS[1], 'mcp-healthd'))", "1",
                        "mcp:commands"})
                .value_or("?")
         << "\nstreams: "
         << redis
                .query({"EVAL",
                        "local o = {} for _, m in ipairs({'member-a','member-b','member-c'}) do "
                        "local k = 'mcp:member-commands:' .. m o[#o+1] = k o[#o+1] = "
                        "redis.call('XRANGE', k, '-', '+') o[#o+1] = redis.call('XPENDING', k, "
                        "'mcp-healthd') end return cjson.encode(o)",
                        "0"})
                .value_or("?"));
  }
  log.collect(sub, std::chrono::milliseconds(3000));
  CHECK(log.answers(*last) == 1);

  // Nothing is left unacknowledged in the command stream or in any member's stream.
  const auto settle = Clock::now();
  auto pending = [&](const std::string& stream) {
    auto p = redis.query({"EVAL",
                          "local ok, r = pcall(redis.call, 'XPENDING', KEYS[1], 'mcp-healthd') "
                          "if not ok then return 0 end return r[1]",
                          "1", stream});
    return p ? *p : std::string("?");
  };
  while (pending("mcp:commands") != "0" && Clock::now() - settle < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(pending("mcp:commands") == "0");
  for (const auto& m : ids) {
    CHECK(pending("mcp:member-commands:" + m) == "0");
  }
}

TEST_CASE(
    "cluster: a command of a member that stalls is answered once, by the member that takes it "
    "over, and not again when the stalled member resumes and publishes its own check") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  Subscriber sub(redis.port(), {"mcp:health"});
  // Servers whose every response takes 1.5 s: a check (initialize, initialized, tools/list)
  // takes about 4.5 s, so a member stopped just after it began is stopped in the middle of it.
  const int servers = 6;
  for (int i = 0; i < servers; ++i) {
    const std::string server = "slow-" + std::to_string(i);
    redis.query({"HSET", "mcp:server:" + server, "url", fault.url(server, "slow?ms=1500"),
                 "interval", "10m", "timeout", "30s"});
    redis.query({"SADD", "mcp:servers", server});
  }
  auto config = [&](const std::string& id) {
    DaemonConfig c;
    c.redisUrl = redis.url();
    c.extra = {"cluster:", "  enabled: true", "  member_id: " + id, "  heartbeat: 500ms",
               "  member_ttl: 2s"};
    return c;
  };
  // A server member-a checks (rendezvous over the two members), and member-b joins once
  // member-a checked them all: nothing is checked twice at start.
  std::string victim;
  for (int i = 0; i < servers && victim.empty(); ++i) {
    const std::string server = "slow-" + std::to_string(i);
    if (mcphd::cluster::ownerOf(server, {"member-a", "member-b"}) == "member-a") {
      victim = server;
    }
  }
  REQUIRE(!victim.empty());
  TestDaemon a(dir, config("member-a"), {}, {}, "a");
  Log log;
  const auto started = Clock::now();
  while (redis.query({"HLEN", "mcp:status"}) != std::to_string(servers)) {
    REQUIRE(Clock::now() - started < std::chrono::seconds(30));
    log.collect(sub, std::chrono::milliseconds(200));
  }
  TestDaemon b(dir, config("member-b"), {}, {}, "b");
  INFO("logs: " << a.logPath() << " " << b.logPath());
  REQUIRE(waitForLog(a.logPath(), "2 live members", 1, std::chrono::seconds(10)));

  auto id = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", victim});
  REQUIRE(id);
  INFO("command " << *id << " for " << victim);
  // Until member-a has read it (from the command stream, or from its own stream when member-b
  // read it first and passed it on): its check of the server begins at once.
  const char* pendingForA =
      "local n = 0 for _, k in ipairs(KEYS) do local ok, r = pcall(redis.call, 'XPENDING', k, "
      "'mcp-healthd', '-', '+', 10, 'mcp-healthd@member-a') if ok then n = n + #r end end "
      "return n";
  const auto reading = Clock::now();
  while (redis.query({"EVAL", pendingForA, "2", "mcp:commands", "mcp:member-commands:member-a"}) !=
         "1") {
    REQUIRE(Clock::now() - reading < std::chrono::seconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(kill(a.pid(), SIGSTOP) == 0);
  // member-a's announcement expires: member-b takes its server and its pending command over, and
  // answers it.
  const bool answered = log.waitAnswer(sub, *id, std::chrono::seconds(30));
  REQUIRE(kill(a.pid(), SIGCONT) == 0);
  REQUIRE(answered);
  {
    Json j(*log.answer(*id));
    REQUIRE(j.ok);
    CHECK(str(j.root, "checked_by") == "member-b");
  }
  // member-a resumes where it stopped: its check ends and is published, without the command.
  const size_t resumedAt = log.messages.size();
  auto checkedByA = [&] {
    for (size_t i = resumedAt; i < log.messages.size(); ++i) {
      Json j(log.messages[i]);
      if (j.ok && str(j.root, "server_id") == victim && str(j.root, "checked_by") == "member-a" &&
          str(j.root, "trigger") == "command") {
        return true;
      }
    }
    return false;
  };
  const auto resumed = Clock::now();
  while (!checkedByA() && Clock::now() - resumed < std::chrono::seconds(20)) {
    log.collect(sub, std::chrono::milliseconds(200));
  }
  CHECK(checkedByA());
  log.collect(sub, std::chrono::milliseconds(1000));
  CHECK(log.answers(*id) == 1);
}

TEST_CASE(
    "cluster: a check * written while a member is taking servers over checks those servers too, "
    "once, and its command_done counts every server") {
  TempDir dir;
  RedisServer redis(dir);
  FaultServer fault(dir);
  Subscriber sub(redis.port(), {"mcp:health"});
  // A 5 s timeout: member-b waits 0.75 s + 5 s after it read a server's published state before it
  // checks it (member-a may still be checking it). The command is written within about a second
  // of that read, once member-a has let its servers go: more than 4 s inside the wait.
  auto config = [&](const std::string& id) {
    DaemonConfig c = memberConfig(redis, fault, id);
    c.defaults = {"interval: 1m", "timeout: 5s"};
    return c;
  };
  TestDaemon a(dir, config("member-a"), {}, {}, "a");
  Log log;
  const auto started = Clock::now();
  // Until member-a checked them all and says it owns them all (its heartbeat writes the count:
  // 0 until its first view).
  while (redis.query({"HLEN", "mcp:status"}) != std::to_string(kConfigServers) ||
         ownedCounts(redis, {"member-a"})["member-a"] != kConfigServers) {
    REQUIRE(Clock::now() - started < std::chrono::seconds(30));
    log.collect(sub, std::chrono::milliseconds(200));
  }
  TestDaemon b(dir, config("member-b"), {}, {}, "b");
  INFO("logs: " << a.logPath() << " " << b.logPath());
  const auto joined = Clock::now();
  while (true) {
    auto owned = ownedCounts(redis, {"member-a"});
    if (owned.count("member-a") != 0 && owned["member-a"] < kConfigServers) {
      break;  // member-a let member-b's share go
    }
    REQUIRE(Clock::now() - joined < std::chrono::seconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto all = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "*"});
  REQUIRE(all);
  INFO("command " << *all);
  std::optional<std::string> done;
  const auto waiting = Clock::now();
  auto doneAfter = std::chrono::milliseconds(0);
  while (!done && Clock::now() - waiting < std::chrono::seconds(30)) {
    log.collect(sub, std::chrono::milliseconds(100));
    for (const auto& m : log.messages) {
      if (m.find("\"type\":\"command_done\"") != std::string::npos &&
          m.find("\"" + *all + "\"") != std::string::npos) {
        done = m;
        doneAfter = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - waiting);
      }
    }
  }
  REQUIRE(done);
  // member-b held its part until its grace ended (more than 4 s after the command): the case
  // under test happened. Without the hold the 30 checks take well under a second.
  CHECK(doneAfter >= std::chrono::milliseconds(2500));
  log.collect(sub, std::chrono::milliseconds(1500));  // time for a second answer, if any
  Json j(*done);
  REQUIRE(j.ok);
  CHECK(num(j.root, "servers") == kConfigServers);
  // Each server's check for it, exactly once, by whichever member has it.
  std::map<std::string, int> checks;
  std::set<std::string> by;
  for (const auto& m : log.messages) {
    Json h(m);
    if (!h.ok || str(h.root, "type") != "health") {
      continue;
    }
    bool named = false;
    auto ids = h.root["command_ids"].get_array();
    if (ids.error() == simdjson::SUCCESS) {
      for (auto id : ids.value()) {
        named = named || std::string_view(id) == *all;
      }
    }
    if (named) {
      ++checks[str(h.root, "server_id")];
      by.insert(str(h.root, "checked_by"));
    }
  }
  CHECK(checks.size() == static_cast<size_t>(kConfigServers));
  for (const auto& [server, n] : checks) {
    INFO("server " << server);
    CHECK(n == 1);
  }
  CHECK(by == std::set<std::string>{"member-a", "member-b"});
}
