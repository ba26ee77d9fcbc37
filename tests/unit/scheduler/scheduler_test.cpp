#include "scheduler/scheduler.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

#include "loop/sim_loop.hpp"

using namespace mcphd;
using namespace mcphd::scheduler;

namespace {

struct SeqRandom : Random {
  double value = 0.0;
  double uniform() override { return value; }
};

// A prober whose checks finish only when the test says so.
struct FakeProber : check::Prober {
  struct Check : check::RunningCheck {
    FakeProber* owner;
    std::string id;
    std::function<void(mcp::ProbeResult)> done;
    ~Check() override { owner->running.erase(id); }
  };
  std::map<std::string, Check*> running;
  std::vector<std::string> started;
  std::map<std::string, int> concurrentPeak;
  size_t peak = 0;

  std::unique_ptr<check::RunningCheck> start(const registry::ServerSpec& spec,
                                             std::function<void(mcp::ProbeResult)> done) override {
    auto c = std::make_unique<Check>();
    c->owner = this;
    c->id = spec.id;
    c->done = std::move(done);
    REQUIRE(running.count(spec.id) == 0);  // never two checks of one server at once
    running[spec.id] = c.get();
    started.push_back(spec.id);
    peak = std::max(peak, running.size());
    return c;
  }
  // Watches handed out, by server id; each lives as long as the scheduler keeps it.
  struct FakeWatch : check::ToolWatch {
    FakeProber* owner;
    std::string id;
    ~FakeWatch() override { owner->watches.erase(id); }
  };
  std::map<std::string, std::function<void()>> watches;
  int watchesStarted = 0;
  std::unique_ptr<check::ToolWatch> watch(const registry::ServerSpec& spec,
                                          std::function<void()> onToolsChanged) override {
    auto w = std::make_unique<FakeWatch>();
    w->owner = this;
    w->id = spec.id;
    watches[spec.id] = std::move(onToolsChanged);
    ++watchesStarted;
    return w;
  }
  void finish(const std::string& id, mcp::ProbeResult r = {}) {
    REQUIRE(running.count(id) == 1);
    auto done = running[id]->done;
    done(std::move(r));
  }
};

struct FakeSink : ResultSink {
  std::vector<CheckReport> reports;
  std::vector<std::string> removed;
  std::vector<std::string> removalAnswers;
  std::vector<Answers> removalAnswerSets;
  void onReport(const CheckReport& r) override { reports.push_back(r); }
  void onRemoved(const std::string& id, const scheduler::Answers& answers) override {
    const std::vector<std::string>& commandIds = answers.ids;
    removalAnswerSets.push_back(answers);
    removed.push_back(id);
    removalAnswers.insert(removalAnswers.end(), commandIds.begin(), commandIds.end());
  }
};

registry::ServerSpec server(const std::string& id, int64_t intervalMs = 10'000) {
  registry::ServerSpec s;
  s.id = id;
  s.url = "http://127.0.0.1:1/mcp";
  s.intervalMs = intervalMs;
  s.timeoutMs = intervalMs / 2;
  s.jitter = 0.10;
  return s;
}

mcp::ProbeResult refused() {
  mcp::ProbeResult r;
  r.error = mcp::CheckError{mcp::ErrorKind::kConnect, "refused", 0};
  r.retriable = true;
  return r;
}

}  // namespace

TEST_CASE("a server never checked before is due now, with the trigger it was added with") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  random.value = 0.25;
  sched.upsertServer(server("a", 10'000), Trigger::kStartup);
  sched.upsertServer(server("b", 10'000), Trigger::kReload);
  loop.runDue();
  CHECK(prober.started == std::vector<std::string>{"a", "b"});
  prober.finish("a");
  prober.finish("b");
  REQUIRE(sink.reports.size() == 2);
  CHECK(sink.reports[0].trigger == Trigger::kStartup);
  CHECK(sink.reports[1].trigger == Trigger::kReload);
}

TEST_CASE("at start-up first checks wait for the snapshot and are due by it") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  random.value = 0.5;  // jitter: half of 10 % of the interval
  sched.awaitSnapshot();
  auto fresh = server("fresh", 60'000);
  auto overdue = server("overdue", 60'000);
  auto never = server("never", 60'000);
  auto down = server("down", 60'000);
  down.unhealthyIntervalMs = 5'000;
  down.maxBackoffMs = 300'000;
  down.unhealthyThreshold = 3;
  for (const auto& s : {fresh, overdue, never, down}) {
    sched.upsertServer(s, Trigger::kStartup);
  }
  loop.advance(10'000);
  CHECK(prober.started.empty());  // nothing before the snapshot is known
  const int64_t now = loop.wallMs();
  Snapshot snap;
  snap["fresh"] = LastCheck{now - 20'000, Status::kHealthy, 0};
  snap["overdue"] = LastCheck{now - 90'000, Status::kHealthy, 0};
  // Unhealthy after 5 retriable failures (threshold 3): two retries so far, 5 s doubled twice.
  snap["down"] = LastCheck{now - 1'000, Status::kUnhealthy, 5};
  snap["gone"] = LastCheck{now - 1'000, Status::kHealthy, 0};  // not configured any more
  sched.setSnapshot(snap);
  loop.runDue();
  CHECK(prober.started == std::vector<std::string>{"never", "overdue"});
  // down: 20 s backoff + 1 s jitter, checked 1 s ago.
  loop.advance(19'999);
  CHECK(prober.started.size() == 2);
  loop.advance(1);
  CHECK(prober.started.back() == "down");
  // fresh: 60 s + 3 s jitter after its last check, 20 s ago.
  loop.advance(42'999 - 20'000);
  CHECK(prober.started.size() == 3);
  loop.advance(1);
  CHECK(prober.started.back() == "fresh");
  prober.finish("fresh");
  CHECK(sink.reports.back().trigger == Trigger::kStartup);
}

TEST_CASE("a snapshot that cannot be read makes every server due now") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 1);
  sched.awaitSnapshot();
  sched.upsertServer(server("a"), Trigger::kStartup);
  sched.upsertServer(server("b"), Trigger::kStartup);
  loop.advance(5'000);
  CHECK(prober.started.empty());
  sched.setSnapshot(std::nullopt);
  loop.runDue();
  // "Now" within max_concurrent_checks: one runs, the other waits for its slot.
  CHECK(prober.started == std::vector<std::string>{"a"});
  prober.finish("a");
  CHECK(prober.started == std::vector<std::string>{"a", "b"});
  // A command before the snapshot is known is not held back.
  Scheduler held(loop, loop, random, prober, sink, 10);
  held.awaitSnapshot();
  held.upsertServer(server("c"), Trigger::kStartup);
  CHECK(held.checkNow("c", Trigger::kCommand, "1-0"));
  CHECK(prober.started.back() == "c");
  held.setSnapshot(Snapshot{});
  loop.advance(60'000);
  CHECK(std::count(prober.started.begin(), prober.started.end(), "c") == 1);
}

TEST_CASE("the due rule: interval plus jitter after the last check, backoff while unhealthy") {
  SeqRandom random;
  random.value = 0.0;
  auto s = server("a", 30'000);
  s.unhealthyIntervalMs = 5'000;
  s.maxBackoffMs = 40'000;
  s.unhealthyThreshold = 3;
  CHECK(firstCheckDelayMs(s, nullptr, 1'000'000, random) == 0);
  LastCheck healthy{1'000'000 - 10'000, Status::kHealthy, 0};
  CHECK(firstCheckDelayMs(s, &healthy, 1'000'000, random) == 20'000);
  LastCheck old{1'000'000 - 31'000, Status::kDegraded, 1};
  CHECK(firstCheckDelayMs(s, &old, 1'000'000, random) == 0);
  LastCheck justDown{1'000'000, Status::kUnhealthy, 3};
  CHECK(firstCheckDelayMs(s, &justDown, 1'000'000, random) == 5'000);
  LastCheck longDown{1'000'000, Status::kUnhealthy, 30};
  CHECK(firstCheckDelayMs(s, &longDown, 1'000'000, random) == 40'000);  // max_backoff
  // A checked_at in the future (the clock went back) never pushes it beyond one interval.
  LastCheck future{1'000'000 + 3'600'000, Status::kHealthy, 0};
  CHECK(firstCheckDelayMs(s, &future, 1'000'000, random) == 30'000);
  random.value = 1.0;
  CHECK(firstCheckDelayMs(s, &healthy, 1'000'000, random) == 23'000);  // + 10 % jitter
}

TEST_CASE("the next check is armed at exactly the interval plus jitter after a result") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  random.value = 0.0;
  sched.upsertServer(server("a", 10'000), Trigger::kStartup);
  loop.runDue();
  loop.advance(300);
  random.value = 0.5;
  prober.finish("a");
  REQUIRE(sink.reports.size() == 1);
  CHECK(sink.reports[0].trigger == Trigger::kStartup);
  CHECK(sink.reports[0].status == Status::kHealthy);
  CHECK(loop.nextDueIn() == 10'500);
  loop.advance(10'500);
  CHECK(prober.started.size() == 2);
  prober.finish("a");
  CHECK(sink.reports[1].trigger == Trigger::kSchedule);
}

TEST_CASE("a server turns unhealthy after three consecutive timeouts and is retried with backoff") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  auto s = server("a", 10'000);
  s.unhealthyIntervalMs = 1'000;
  s.maxBackoffMs = 4'000;
  sched.upsertServer(s, Trigger::kStartup);
  loop.runDue();
  prober.finish("a");
  mcp::ProbeResult timeout;
  timeout.error = mcp::CheckError{mcp::ErrorKind::kTimeout, "timed out", 0};
  timeout.retriable = true;
  std::vector<Status> statuses;
  std::vector<int64_t> gaps;
  for (int i = 0; i < 6; ++i) {
    gaps.push_back(loop.nextDueIn());
    loop.advance(loop.nextDueIn());
    prober.finish("a", timeout);
    statuses.push_back(sink.reports.back().status);
  }
  CHECK(statuses == std::vector<Status>{Status::kHealthy, Status::kHealthy, Status::kUnhealthy,
                                        Status::kUnhealthy, Status::kUnhealthy,
                                        Status::kUnhealthy});
  CHECK(gaps == std::vector<int64_t>{10'000, 10'000, 10'000, 1'000, 2'000, 4'000});
  CHECK(sink.reports.back().consecutiveFailures == 6);
  CHECK(sink.reports[3].changed);
  CHECK(sink.reports[3].previousStatus == Status::kHealthy);
}

TEST_CASE("no more than max_concurrent_checks run at once and queued checks start in due order") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 2);
  // Never checked: all five are due now, in the order they were added.
  for (int i = 0; i < 5; ++i) {
    sched.upsertServer(server(std::string(1, static_cast<char>('a' + i))), Trigger::kStartup);
  }
  loop.runDue();
  CHECK(prober.started == std::vector<std::string>{"a", "b"});
  CHECK(sched.queued() == 3);
  prober.finish("b");
  CHECK(prober.started.back() == "c");
  prober.finish("a");
  prober.finish("c");
  CHECK(prober.started == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(prober.peak == 2);
}

TEST_CASE(
    "commands asked for while a check is in flight join it, and every command id is answered") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  sched.upsertServer(server("a"), Trigger::kStartup);
  loop.runDue();
  CHECK(sched.checkNow("a", Trigger::kCommand, "1-0"));
  CHECK(sched.checkNow("a", Trigger::kCommand, "2-0"));
  CHECK(prober.started.size() == 1);
  prober.finish("a");
  REQUIRE(sink.reports.size() == 1);
  CHECK(sink.reports[0].commandIds == std::vector<std::string>{"1-0", "2-0"});
  CHECK(sink.reports[0].trigger == Trigger::kCommand);
  CHECK(sched.checkNow("a", Trigger::kUpsert, "3-0"));
  CHECK(prober.started.size() == 2);
  prober.finish("a");
  CHECK(sink.reports.back().trigger == Trigger::kUpsert);
  CHECK(sink.reports.back().commandIds == std::vector<std::string>{"3-0"});
  CHECK_FALSE(sched.checkNow("nope", Trigger::kCommand, "4-0"));
}

TEST_CASE("removing a server answers the commands that waited for it") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  sched.upsertServer(server("a"), Trigger::kStartup);
  loop.runDue();
  sched.checkNow("a", Trigger::kCommand, "1-0");
  sched.removeServer("a", "2-0");
  CHECK(sink.removalAnswers == std::vector<std::string>{"2-0", "1-0"});
}

TEST_CASE("removing a server cancels its check and frees its slot") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 1);
  sched.upsertServer(server("a"), Trigger::kStartup);
  random.value = 0.5;
  sched.upsertServer(server("b"), Trigger::kStartup);
  loop.advance(5'000);
  CHECK(prober.started == std::vector<std::string>{"a"});
  CHECK(sched.queued() == 1);
  sched.removeServer("a");
  CHECK(prober.running.count("a") == 0);
  CHECK(prober.started == std::vector<std::string>{"a", "b"});
  CHECK(sink.removed == std::vector<std::string>{"a"});
}

TEST_CASE("after stop nothing is armed and no check runs") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  sched.upsertServer(server("a"), Trigger::kStartup);
  sched.upsertServer(server("b"), Trigger::kStartup);
  loop.runDue();
  sched.stop();
  CHECK(prober.running.empty());
  CHECK(loop.armedTimers() == 0);
}

TEST_CASE("a retriable failure on the very first check makes the server unhealthy at once") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  sched.upsertServer(server("a"), Trigger::kStartup);
  loop.runDue();
  prober.finish("a", refused());
  CHECK(sink.reports.back().status == Status::kUnhealthy);
  CHECK(sink.reports.back().previousStatus == Status::kUnknown);
}

TEST_CASE("an auth_required server is not probed on schedule until its record changes") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  sched.upsertServer(server("a"), Trigger::kStartup);
  loop.runDue();
  mcp::ProbeResult needs;
  needs.error = mcp::CheckError{mcp::ErrorKind::kAuth, "authorization required", 0};
  needs.authRequired = true;
  prober.finish("a", needs);
  CHECK(sink.reports.back().status == Status::kAuthRequired);
  loop.advance(3'600'000);
  CHECK(prober.started.size() == 1);
  sched.upsertServer(server("a"), Trigger::kStartup);  // unchanged: still parked
  loop.advance(1'000);
  CHECK(prober.started.size() == 1);
  auto changed = server("a");
  changed.url = "http://127.0.0.1:2/mcp";
  sched.upsertServer(changed, Trigger::kStartup);
  loop.runDue();
  CHECK(prober.started.size() == 2);
}

TEST_CASE("watch_tools: a server advertising list_changed is watched, and a change re-checks it") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  random.value = 0;
  auto spec = server("w", 10'000);
  spec.watchTools = true;
  sched.upsertServer(spec, Trigger::kStartup);
  loop.runDue();
  mcp::ProbeResult ok;
  ok.toolsListChanged = false;
  prober.finish("w", ok);
  CHECK(prober.watches.empty());  // not advertised: nothing to watch
  loop.advance(11'000);
  ok.toolsListChanged = true;
  prober.finish("w", ok);
  REQUIRE(prober.watches.count("w") == 1);
  prober.watches["w"]();  // the server said its tools changed
  loop.runDue();
  REQUIRE(prober.running.count("w") == 1);
  prober.finish("w", ok);
  CHECK(sink.reports.back().trigger == Trigger::kListChanged);
  CHECK(prober.watchesStarted == 1);  // one watch, kept across checks

  auto changed = spec;
  changed.timeoutMs = 4'000;
  sched.upsertServer(changed, Trigger::kStartup);
  CHECK(prober.watches.empty());  // new settings: watched again after the next check
  sched.removeServer("w");
  CHECK(prober.watches.empty());

  auto unwatched = server("u", 10'000);
  sched.upsertServer(unwatched, Trigger::kStartup);
  loop.runDue();
  prober.finish("u", ok);
  CHECK(prober.watches.count("u") == 0);  // watch_tools not set
}

TEST_CASE(
    "check * is counted once per server whatever the number of commands, and done when all "
    "answered") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  std::vector<std::pair<std::string, size_t>> done;
  sched.broadcasts().onDone(
      [&](const std::string& id, size_t servers) { done.emplace_back(id, servers); });
  sched.upsertServer(server("a"), Trigger::kStartup);
  sched.upsertServer(server("b"), Trigger::kStartup);
  sched.upsertServer(server("c"), Trigger::kStartup);
  CHECK(sched.checkAll(Trigger::kCommand, "1-0"));
  loop.runDue();
  REQUIRE(prober.running.size() == 3);
  // 1,000 more while the checks are in flight: they join, nothing grows per server.
  for (int i = 2; i <= 1001; ++i) {
    CHECK(sched.checkAll(Trigger::kCommand, std::to_string(i) + "-0"));
  }
  CHECK(prober.started.size() == 3);
  CHECK(sched.broadcasts().pending() == 1001);
  prober.finish("a");
  REQUIRE(sink.reports.size() == 1);
  CHECK(sink.reports[0].broadcastFrom == 0);
  CHECK(sink.reports[0].broadcastTo == 1001);
  CHECK(sink.reports[0].trigger == Trigger::kCommand);
  // Answering is the publisher's (after the PUBLISH): here, by hand.
  sched.broadcasts().answered(0, 1001);
  CHECK(done.empty());
  prober.finish("b");
  sched.broadcasts().answered(sink.reports[1].broadcastFrom, sink.reports[1].broadcastTo);
  CHECK(done.empty());
  // A server added now owes none of them; a removed one answers its range.
  sched.upsertServer(server("d"), Trigger::kStartup);
  sched.removeServer("c", "");
  REQUIRE(sink.removalAnswerSets.size() == 1);
  REQUIRE(sink.removalAnswerSets[0].ranges.size() == 1);
  CHECK(sink.removalAnswerSets[0].ranges[0] == std::make_pair(uint64_t{0}, uint64_t{1001}));
  sched.broadcasts().answered(0, 1001);
  REQUIRE(done.size() == 1001);
  CHECK(done.front() == std::make_pair(std::string("1-0"), size_t{3}));
  CHECK(done.back().first == "1001-0");
  CHECK(sched.broadcasts().pending() == 0);
  // The next one counts the servers there are now.
  CHECK(sched.checkAll(Trigger::kCommand, "2000-0"));
  loop.runDue();
  prober.finish("a");
  CHECK(sink.reports.back().broadcastFrom == 1001);
  CHECK(sink.reports.back().broadcastTo == 1002);
}

TEST_CASE("no more watch sessions than max_watches, a freed place is taken by the next check") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  sched.setMaxWatches(1);
  mcp::ProbeResult listChanged;
  listChanged.toolsListChanged = true;
  for (const char* id : {"a", "b"}) {
    auto s = server(id);
    s.watchTools = true;
    sched.upsertServer(s, Trigger::kStartup);
  }
  loop.runDue();
  prober.finish("a", listChanged);
  prober.finish("b", listChanged);
  CHECK(prober.watchesStarted == 1);
  CHECK(sched.watches() == 1);
  CHECK(prober.watches.count("a") == 1);
  sched.removeServer("a", "");
  CHECK(sched.watches() == 0);
  REQUIRE(sched.checkNow("b", Trigger::kCommand, ""));
  loop.runDue();
  prober.finish("b", listChanged);
  CHECK(prober.watches.count("b") == 1);
  CHECK(sched.watches() == 1);
}

TEST_CASE("a server taken over is due by its last published check and continues its state") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 10);
  random.value = 0;
  const int64_t now = loop.wallMs();
  // Checked 4 s ago by the member that had it: due 6 s from now, not at once.
  LastCheck recent{now - 4'000, Status::kHealthy, 0, 7, now - 100'000};
  sched.adoptServer(server("taken", 10'000), Trigger::kHandover, recent);
  // Never published: due now.
  sched.adoptServer(server("new", 10'000), Trigger::kHandover, std::nullopt);
  loop.runDue();
  CHECK(prober.started == std::vector<std::string>{"new"});
  loop.advance(5'999);
  CHECK(prober.started.size() == 1);
  loop.advance(1);
  REQUIRE(prober.started.back() == "taken");
  // One failure of a healthy server with threshold 3 does not turn it unhealthy: its successes
  // and status carried over (a fresh state would have turned unhealthy at once).
  prober.finish("taken", refused());
  const CheckReport& r = sink.reports.back();
  CHECK(r.trigger == Trigger::kHandover);
  CHECK(r.previousStatus == Status::kHealthy);
  CHECK(r.status == Status::kHealthy);
  CHECK_FALSE(r.changed);
  CHECK(r.consecutiveFailures == 1);
  CHECK(r.statusSinceWallMs == now - 100'000);

  // An unhealthy one keeps its backoff: 5 failures with threshold 3 = 5 s doubled twice.
  auto down = server("down", 60'000);
  down.unhealthyIntervalMs = 5'000;
  sched.removeServer("taken");
  sched.removeServer("new");
  sched.adoptServer(down, Trigger::kHandover, LastCheck{now, Status::kUnhealthy, 5, 0, now});
  prober.started.clear();
  loop.advance(20'000 - (loop.wallMs() - now) - 1);
  CHECK(prober.started.empty());
  loop.advance(1);
  REQUIRE(prober.started == std::vector<std::string>{"down"});
  prober.finish("down", refused());
  CHECK(sink.reports.back().consecutiveFailures == 6);
  // ... and its next retry is 40 s away (the step continued, not restarted at 5 s).
  prober.started.clear();
  loop.advance(39'999);
  CHECK(prober.started.empty());
  loop.advance(1);
  CHECK(prober.started == std::vector<std::string>{"down"});

  // auth_required stays parked, as its previous owner left it.
  sched.adoptServer(server("login"), Trigger::kHandover,
                    LastCheck{now - 60'000, Status::kAuthRequired, 1, 0, now});
  prober.started.clear();
  loop.advance(600'000);
  CHECK(std::count(prober.started.begin(), prober.started.end(), "login") == 0);
  CHECK(sched.has("login"));
}

TEST_CASE("a released server is no longer checked, and a check under way still publishes") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 1);
  random.value = 0;
  auto watched = server("w", 10'000);
  watched.watchTools = true;
  sched.upsertServer(watched, Trigger::kStartup);
  sched.upsertServer(server("idle", 10'000), Trigger::kStartup);
  loop.runDue();
  mcp::ProbeResult ok;
  ok.toolsListChanged = true;
  prober.finish("w", ok);
  prober.finish("idle");
  REQUIRE(prober.watches.count("w") == 1);

  // Idle: forgotten at once, nothing published, nothing scheduled.
  sched.releaseServer("idle");
  CHECK_FALSE(sched.has("idle"));
  CHECK(sink.removed.empty());
  // Watched: the watch ends with it.
  sched.releaseServer("w");
  CHECK(prober.watches.empty());
  CHECK(sched.watches() == 0);
  const size_t reports = sink.reports.size();
  prober.started.clear();
  loop.advance(120'000);
  CHECK(prober.started.empty());
  CHECK(sink.reports.size() == reports);

  // Under way, with a command waiting (and one queued behind it, max 1 at once): both checks
  // finish and publish, answering their commands, then the servers are forgotten.
  sched.upsertServer(server("busy"), Trigger::kStartup);
  sched.upsertServer(server("queued"), Trigger::kStartup);
  loop.runDue();
  REQUIRE(prober.running.count("busy") == 1);
  CHECK(sched.checkNow("busy", Trigger::kCommand, "1-0"));
  CHECK(sched.checkNow("queued", Trigger::kCommand, "2-0"));
  CHECK(sched.queued() == 1);
  sched.releaseServer("busy");
  sched.releaseServer("queued");
  CHECK(sched.has("busy"));
  prober.finish("busy");
  CHECK_FALSE(sched.has("busy"));
  CHECK(sink.reports.back().commandIds == std::vector<std::string>{"1-0"});
  REQUIRE(prober.running.count("queued") == 1);  // its slot went to the queued one
  prober.finish("queued");
  CHECK(sink.reports.back().commandIds == std::vector<std::string>{"2-0"});
  CHECK_FALSE(sched.has("queued"));
  CHECK(sched.running() == 0);
  prober.started.clear();
  loop.advance(120'000);
  CHECK(prober.started.empty());

  // Released while under way and taken back before it ended: its schedule goes on.
  sched.upsertServer(server("back", 10'000), Trigger::kStartup);
  loop.runDue();
  sched.releaseServer("back");
  sched.adoptServer(server("back", 10'000), Trigger::kHandover, std::nullopt);
  prober.finish("back");
  CHECK(sched.has("back"));
  prober.started.clear();
  loop.advance(10'000);
  CHECK(prober.started == std::vector<std::string>{"back"});
}

TEST_CASE("a released server's queued scheduled check is dropped, and one taken back keeps going") {
  loop::SimLoop loop;
  SeqRandom random;
  FakeProber prober;
  FakeSink sink;
  Scheduler sched(loop, loop, random, prober, sink, 1);
  random.value = 0;
  sched.upsertServer(server("busy", 10'000), Trigger::kStartup);
  sched.upsertServer(server("waiting", 10'000), Trigger::kStartup);
  loop.runDue();
  REQUIRE(prober.running.count("busy") == 1);
  REQUIRE(sched.queued() == 1);
  // Queued for its schedule only: released, it is not checked by this member any more.
  sched.releaseServer("waiting");
  CHECK_FALSE(sched.has("waiting"));
  prober.finish("busy");
  CHECK(prober.running.count("waiting") == 0);
  CHECK(sched.running() == 0);

  // Released under way, then registered again (a remove and an add) before the check ended:
  // the new settings apply and the server stays scheduled.
  loop.advance(10'000);
  REQUIRE(prober.running.count("busy") == 1);
  sched.releaseServer("busy");
  sched.upsertServer(server("busy", 20'000), Trigger::kResync);
  prober.finish("busy");
  CHECK(sched.has("busy"));
  prober.started.clear();
  loop.advance(20'000);
  CHECK(prober.started == std::vector<std::string>{"busy"});
}
