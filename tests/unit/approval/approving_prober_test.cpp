#include "approval/approving_prober.hpp"

#include <sodium.h>

#include <catch2/catch.hpp>
#include <deque>

#include "auth/key_ring.hpp"
#include "mcp/probe_result.hpp"

using namespace mcphd;
using baseline::Approval;

namespace {

// Checks that finish when the test says so.
struct InnerProber : check::Prober {
  struct Check : check::RunningCheck {
    InnerProber* owner;
    std::string id;
    std::function<void(mcp::ProbeResult)> done;
    ~Check() override {
      // A finished check's handle may go after the next one of the server started.
      if (auto it = owner->running.find(id); it != owner->running.end() && it->second == this) {
        owner->running.erase(it);
      }
    }
  };
  std::map<std::string, Check*> running;
  std::unique_ptr<check::RunningCheck> start(const registry::ServerSpec& spec,
                                             std::function<void(mcp::ProbeResult)> done) override {
    auto c = std::make_unique<Check>();
    c->owner = this;
    c->id = spec.id;
    c->done = std::move(done);
    running[spec.id] = c.get();
    return c;
  }
  void finish(const std::string& id, mcp::ProbeResult r) {
    REQUIRE(running.count(id) == 1);
    auto done = running[id]->done;
    done(std::move(r));
  }
};

// Records in memory; reads answer when the test says so.
struct MemoryStore : approval::BaselineStore {
  std::map<std::string, std::map<std::string, std::string>> records;
  const auth::KeyRing* keys = nullptr;
  std::deque<std::function<void()>> pending;
  int reads = 0;
  int readsWithDefinitions = 0;
  bool failReads = false;
  bool refuseLearn = false;
  void read(const std::string& id, bool definitions,
            std::function<void(Result<baseline::Record>)> done) override {
    ++reads;
    readsWithDefinitions += definitions ? 1 : 0;
    pending.push_back([this, id, definitions, done] {
      if (failReads) {
        return done(makeError("connection lost"));
      }
      baseline::Record r;
      auto it = records.find(id);
      if (it != records.end()) {
        auto fields = it->second;
        if (!definitions) {
          std::erase_if(fields, [](const auto& f) { return f.first.rfind("def:", 0) == 0; });
        }
        auto b = baseline::fromFields(id, fields, keys);
        if (b) {
          r.state = baseline::Record::State::kValid;
          r.baseline = *b;
        } else {
          r.state = baseline::Record::State::kInvalid;
          r.reason = b.error().message;
        }
      }
      done(r);
    });
  }
  void learn(const std::string& id, const baseline::Baseline& b,
             std::function<void(Result<bool>)> done) override {
    if (refuseLearn) {
      return done(makeError("NOPERM this user has no permissions to run the 'hset' command"));
    }
    const bool fresh = records.count(id) == 0;
    if (fresh) {
      for (auto& [k, v] : baseline::toFields(b)) {
        records[id][k] = v;
      }
    }
    done(fresh);
  }
  void answer() {
    REQUIRE(!pending.empty());
    auto f = std::move(pending.front());
    pending.pop_front();
    f();
  }
};

mcp::Tool tool(const std::string& name, const std::string& description) {
  return mcp::makeTool(name, R"({"name":")" + name + R"(","description":")" + description + "\"}");
}

mcp::ProbeResult complete(std::vector<mcp::Tool> tools) {
  mcp::ProbeResult r;
  r.initialized = true;
  r.toolsComplete = true;
  r.toolsHash = mcp::computeToolsHash(tools);
  r.tools = std::move(tools);
  return r;
}

struct Fixture {
  InnerProber inner;
  MemoryStore store;
  auth::KeyRing keys;
  approval::ApprovingProber prober{inner, &store, &keys, [] { return int64_t{1'765'000'000'000}; }};
  registry::ServerSpec spec;
  std::vector<mcp::ProbeResult> results;
  std::unique_ptr<check::RunningCheck> running;
  Fixture() {
    REQUIRE(sodium_init() >= 0);
    REQUIRE(keys.addKey("k1", auth::generateKeyBase64()));
    REQUIRE(keys.setActive("k1"));
    store.keys = &keys;
    spec.id = "srv";
  }
  void check(mcp::ProbeResult r) {
    running =
        prober.start(spec, [this](mcp::ProbeResult got) { results.push_back(std::move(got)); });
    inner.finish("srv", std::move(r));
  }
};

}  // namespace

TEST_CASE("approval: tofu learns and signs the first list, an unchanged list is not read again") {
  Fixture f;
  f.check(complete({tool("a", "A")}));
  CHECK(f.results.empty());  // waiting for the record
  f.store.answer();
  REQUIRE(f.results.size() == 1);
  REQUIRE(f.results[0].verdict);
  CHECK(f.results[0].verdict->approval == Approval::kApproved);
  REQUIRE(f.store.records.count("srv") == 1);
  CHECK(f.store.records["srv"]["mac"].rfind("k1.", 0) == 0);
  CHECK(baseline::fromFields("srv", f.store.records["srv"], &f.keys));  // it verifies

  f.check(complete({tool("a", "A")}));
  REQUIRE(f.results.size() == 2);  // at once: no read
  CHECK(f.store.reads == 1);
  CHECK(f.results[1].verdict == f.results[0].verdict);  // the same object, not a copy
}

TEST_CASE("approval: a changed list drifts once, a failed check keeps the verdict") {
  Fixture f;
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  f.check(complete({tool("a", "A changed"), tool("b", "B")}));
  f.store.answer();
  CHECK(f.results.size() == 1);  // drifted: read again for the approved definitions
  f.store.answer();
  REQUIRE(f.results.size() == 2);
  CHECK(f.results[1].verdict->approval == Approval::kDrifted);
  CHECK(f.results[1].verdict->enteredDrift);
  CHECK(f.results[1].verdict->drift.added == std::vector<std::string>{"b"});
  CHECK(f.results[1].verdict->drift.changed ==
        std::vector<baseline::ChangedTool>{{"a", {"description"}}});

  f.check(complete({tool("a", "A changed"), tool("b", "B")}));
  REQUIRE(f.results.size() == 3);
  CHECK(f.results[2].verdict->approval == Approval::kDrifted);
  CHECK_FALSE(f.results[2].verdict->enteredDrift);

  mcp::ProbeResult failed;
  failed.error = mcp::CheckError{mcp::ErrorKind::kTimeout, "timed out", 0};
  f.check(failed);
  REQUIRE(f.results.size() == 4);
  CHECK(f.results[3].verdict->approval == Approval::kDrifted);
  // The first read, then the drift's: without the definitions, and with them for the keys.
  CHECK(f.store.reads == 3);
  CHECK(f.store.readsWithDefinitions == 1);

  // Approved anew (op baseline): read again at the next check.
  auto approved = baseline::fromTools({tool("a", "A changed"), tool("b", "B")},
                                      "2026-12-06T12:00:00.000Z", "alice");
  REQUIRE(baseline::sign("srv", approved, f.keys));
  f.store.records.erase("srv");
  for (auto& [k, v] : baseline::toFields(approved)) {
    f.store.records["srv"][k] = v;
  }
  f.prober.reread("srv");
  f.check(complete({tool("a", "A changed"), tool("b", "B")}));
  f.store.answer();
  REQUIRE(f.results.size() == 5);
  CHECK(f.results[4].verdict->approval == Approval::kApproved);
}

TEST_CASE("approval: a forged or deleted baseline is unapproved, not re-learned") {
  Fixture f;
  f.spec.tools.onDrift = baseline::Action::kQuarantine;
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  // Whoever can write to Redis replaces the tool set and the hash, keeping the old MAC.
  auto forged = baseline::fromTools({tool("a", "evil")}, "2026-12-06T12:00:00.000Z", "tofu");
  forged.mac = f.store.records["srv"]["mac"];
  f.store.records.erase("srv");
  for (auto& [k, v] : baseline::toFields(forged)) {
    f.store.records["srv"][k] = v;
  }
  f.prober.reread("srv");
  f.check(complete({tool("a", "evil")}));
  f.store.answer();
  REQUIRE(f.results.size() == 2);
  CHECK(f.results[1].verdict->approval == Approval::kUnapproved);
  CHECK(f.results[1].verdict->quarantine);
  // ... and deleted: still unapproved, nothing written.
  f.store.records.erase("srv");
  f.prober.reread("srv");
  f.check(complete({tool("a", "evil")}));
  f.store.answer();
  CHECK(f.results[2].verdict->approval == Approval::kUnapproved);
  CHECK(f.store.records.count("srv") == 0);
  // Redis lost its data: learned again.
  f.prober.redisLost();
  f.check(complete({tool("a", "evil")}));
  f.store.answer();
  CHECK(f.results[3].verdict->approval == Approval::kApproved);
  CHECK(f.store.records.count("srv") == 1);
}

TEST_CASE(
    "approval: a check dropped while its record is read never answers, Redis down keeps "
    "the verdict") {
  Fixture f;
  f.check(complete({tool("a", "A")}));
  f.running.reset();  // the scheduler let the server go
  f.store.answer();
  CHECK(f.results.empty());

  f.check(complete({tool("a", "A")}));
  f.store.answer();
  REQUIRE(f.results.size() == 1);
  f.store.failReads = true;
  f.prober.reread("srv");
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  REQUIRE(f.results.size() == 2);
  CHECK(f.results[1].verdict == f.results[0].verdict);  // the verdict on this very list stands
  f.check(complete({tool("a", "B")}));
  f.store.answer();
  REQUIRE(f.results.size() == 3);
  CHECK(f.results[2].verdict == nullptr);  // a new list: not judged, not "approved"
  f.store.failReads = false;
  f.check(complete({tool("a", "B")}));  // read again
  f.store.answer();
  f.store.answer();  // with the definitions
  REQUIRE(f.results.size() == 4);
  CHECK(f.results[3].verdict->approval == Approval::kDrifted);
}

TEST_CASE("approval: a learned baseline that is not written is learned again, never unsigned") {
  Fixture f;
  f.store.refuseLearn = true;
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  REQUIRE(f.results.size() == 1);
  CHECK(f.results[0].verdict->approval == Approval::kApproved);
  f.store.refuseLearn = false;
  f.check(complete({tool("a", "A")}));  // judged again: read, learned, written
  f.store.answer();
  CHECK(f.store.reads == 2);
  REQUIRE(f.store.records.count("srv") == 1);

  // A ring without an active key cannot sign: nothing is written (it would read back as not
  // signed, and the server be unapproved for good).
  InnerProber inner;
  MemoryStore store;
  auth::KeyRing noActive;
  REQUIRE(noActive.addKey("old", auth::generateKeyBase64()));
  store.keys = &noActive;
  approval::ApprovingProber p(inner, &store, &noActive, [] { return int64_t{1}; });
  registry::ServerSpec spec;
  spec.id = "srv";
  std::vector<mcp::ProbeResult> got;
  auto run = p.start(spec, [&](mcp::ProbeResult r) { got.push_back(std::move(r)); });
  inner.finish("srv", complete({tool("a", "A")}));
  store.answer();
  REQUIRE(got.size() == 1);
  CHECK(store.records.empty());
  // ... and not approved: else whatever the server lists would be "approved", check after check.
  CHECK(got[0].verdict->approval == Approval::kUnapproved);
  spec.tools.onDrift = baseline::Action::kQuarantine;
  run = p.start(spec, [&](mcp::ProbeResult r) { got.push_back(std::move(r)); });
  inner.finish("srv", complete({tool("a", "A")}));
  store.answer();  // judged again (not written): read again
  REQUIRE(got.size() == 2);
  CHECK(got[1].verdict->approval == Approval::kUnapproved);
  CHECK(got[1].verdict->quarantine);
}

TEST_CASE("approval: a baseline read under way when op baseline comes is read again") {
  Fixture f;
  f.check(complete({tool("a", "A")}));
  f.store.answer();  // learned
  f.check(complete({tool("a", "B")}));
  // The read of this check is under way; the operator approves "B" meanwhile.
  baseline::Baseline b = baseline::fromTools({tool("a", "B")}, "2026-12-07T00:00:00.000Z", "alice");
  REQUIRE(baseline::sign("srv", b, f.keys));
  f.store.records["srv"].clear();
  for (auto& [k, v] : baseline::toFields(b)) {
    f.store.records["srv"][k] = v;
  }
  f.prober.reread("srv");
  f.store.answer();  // answers with the record as it is now... but began before: read again
  REQUIRE(f.results.size() == 1);  // the first check only
  REQUIRE_FALSE(f.store.pending.empty());
  f.store.answer();
  REQUIRE(f.results.size() == 2);
  CHECK(f.results[1].verdict->approval == Approval::kApproved);
}

TEST_CASE("approval: a server removed and registered again is not baselined anew") {
  Fixture f;
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  REQUIRE(f.store.records.count("srv") == 1);
  f.prober.forget("srv");        // removed
  f.store.records.erase("srv");  // and its baseline deleted by whoever can write to Redis
  f.check(complete({tool("a", "evil")}));
  f.store.answer();
  REQUIRE(f.results.size() == 2);
  CHECK(f.results[1].verdict->approval == Approval::kUnapproved);
  CHECK(f.store.records.count("srv") == 0);
  // Unless Redis lost its data.
  f.prober.redisLost();
  f.check(complete({tool("a", "evil")}));
  f.store.answer();
  REQUIRE(f.results.size() == 3);
  CHECK(f.results[2].verdict->approval == Approval::kApproved);
}

TEST_CASE("approval: a quarantined server stays quarantined while Redis cannot be read") {
  Fixture f;
  f.spec.tools.onDrift = baseline::Action::kQuarantine;
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  f.check(complete({tool("a", "B")}));
  f.store.answer();  // without definitions
  f.store.answer();  // with them
  REQUIRE(f.results.size() == 2);
  REQUIRE(f.results[1].verdict->quarantine);
  f.store.failReads = true;
  f.check(complete({tool("a", "C")}));  // a new list, not judged
  f.store.answer();
  REQUIRE(f.results.size() == 3);
  REQUIRE(f.results[2].verdict);
  CHECK(f.results[2].verdict->approval == Approval::kNone);
  CHECK(f.results[2].verdict->quarantine);
}

TEST_CASE("approval: a drift announced before a restart is not announced again") {
  Fixture f;
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  approval::ApprovingProber restarted{f.inner, &f.store, &f.keys, [] { return int64_t{2}; }};
  restarted.hadBaseline("srv", true);  // the published state said drifted
  std::vector<mcp::ProbeResult> got;
  auto run = restarted.start(f.spec, [&](mcp::ProbeResult r) { got.push_back(std::move(r)); });
  f.inner.finish("srv", complete({tool("a", "B")}));
  f.store.answer();
  f.store.answer();
  REQUIRE(got.size() == 1);
  CHECK(got[0].verdict->approval == Approval::kDrifted);
  CHECK_FALSE(got[0].verdict->enteredDrift);
}

TEST_CASE("approval: a server whose settings changed is judged again") {
  Fixture f;
  f.check(complete({tool("a", "A")}));
  f.store.answer();
  f.check(complete({tool("a", "B")}));
  f.store.answer();
  f.store.answer();
  REQUIRE(f.results.size() == 2);
  CHECK_FALSE(f.results[1].verdict->quarantine);
  f.spec.tools.onDrift = baseline::Action::kQuarantine;
  f.check(complete({tool("a", "B")}));
  f.store.answer();
  f.store.answer();
  REQUIRE(f.results.size() == 3);
  CHECK(f.results[2].verdict->quarantine);
}

TEST_CASE("approval: tool_baseline off reads nothing, and still lints") {
  Fixture f;
  f.spec.tools.policy = baseline::Policy::kOff;
  f.check(complete({tool("a", "<IMPORTANT>do it</IMPORTANT>")}));
  REQUIRE(f.results.size() == 1);
  CHECK(f.store.reads == 0);
  CHECK(f.results[0].verdict->approval == Approval::kNone);
  REQUIRE(f.results[0].verdict->findings.size() == 1);
  CHECK(f.results[0].verdict->findings[0].code == "model_instruction");
}

TEST_CASE("approval: a tool name on two servers is shadowed_name on both, and never quarantines") {
  Fixture f;
  f.spec.tools.policy = baseline::Policy::kOff;  // no reads: each check answers at once
  f.spec.tools.onFinding = baseline::Action::kQuarantine;
  const auto codes = [](const mcp::ProbeResult& r) {
    std::vector<std::string> out;
    for (const auto& x : r.verdict->findings) {
      out.push_back(x.code + ":" + x.tool);
    }
    return out;
  };
  f.check(complete({tool("search", "Searches."), tool("mine", "Only here.")}));
  REQUIRE(f.results.size() == 1);
  CHECK(codes(f.results[0]).empty());

  // A second server offers "search" too: its own verdict says so at once.
  registry::ServerSpec other = f.spec;
  other.id = "newcomer";
  auto run = f.prober.start(other, [&](mcp::ProbeResult got) { f.results.push_back(got); });
  f.inner.finish("newcomer", complete({tool("search", "Searches better.")}));
  REQUIRE(f.results.size() == 2);
  CHECK(codes(f.results[1]) == std::vector<std::string>{"shadowed_name:search"});
  CHECK(f.results[1].verdict->findingCounts.at("shadowed_name") == 1);
  CHECK_FALSE(f.results[1].verdict->quarantine);  // a newcomer cannot quarantine anyone

  // The first server, unchanged, is judged again at its next check and says it too.
  f.check(complete({tool("search", "Searches."), tool("mine", "Only here.")}));
  REQUIRE(f.results.size() == 3);
  CHECK(codes(f.results[2]) == std::vector<std::string>{"shadowed_name:search"});
  CHECK_FALSE(f.results[2].verdict->quarantine);

  // The newcomer goes: the first server is alone with its names again.
  f.prober.forget("newcomer");
  f.check(complete({tool("search", "Searches."), tool("mine", "Only here.")}));
  REQUIRE(f.results.size() == 4);
  CHECK(codes(f.results[3]).empty());
}

TEST_CASE("approval: servers with the same verdict share one object") {
  Fixture f;
  f.spec.tools.policy = baseline::Policy::kOff;
  f.check(complete({tool("a", "<IMPORTANT>x</IMPORTANT>")}));
  registry::ServerSpec other = f.spec;
  other.id = "twin";
  auto run = f.prober.start(other, [&](mcp::ProbeResult got) { f.results.push_back(got); });
  f.inner.finish("twin", complete({tool("a", "<IMPORTANT>x</IMPORTANT>")}));
  REQUIRE(f.results.size() == 2);
  // (both offer "a": each has shadowed_name, and the same findings)
  CHECK(f.results[0].verdict != nullptr);
  f.check(complete({tool("a", "<IMPORTANT>x</IMPORTANT>")}));  // judged again: shadowed now
  REQUIRE(f.results.size() == 3);
  CHECK(f.results[2].verdict == f.results[1].verdict);
}

TEST_CASE("approval: a server forgotten while its check runs is not judged, nor shadows others") {
  Fixture f;
  f.spec.tools.policy = baseline::Policy::kOff;
  f.running = f.prober.start(f.spec, [&](mcp::ProbeResult got) { f.results.push_back(got); });
  f.prober.forget("srv");  // handed to another member: its check under way still ends
  f.inner.finish("srv", complete({tool("search", "S")}));
  REQUIRE(f.results.size() == 1);
  CHECK(f.results[0].verdict == nullptr);
  registry::ServerSpec other = f.spec;
  other.id = "other";
  auto run = f.prober.start(other, [&](mcp::ProbeResult got) { f.results.push_back(got); });
  f.inner.finish("other", complete({tool("search", "S")}));
  REQUIRE(f.results.size() == 2);
  CHECK(f.results[1].verdict->findings.empty());  // "srv" is not in the index
}
