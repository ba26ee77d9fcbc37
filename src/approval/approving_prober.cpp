#include "approval/approving_prober.hpp"

#include "auth/key_ring.hpp"
#include "baseline/lint.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"

namespace mcphd::approval {

// One check: the inner check, then (when the record must be read) the read.
class ApprovingProber::Running final : public check::RunningCheck {
 public:
  Running(ApprovingProber& owner, const registry::ServerSpec& spec,
          std::function<void(mcp::ProbeResult)> done)
      : owner(owner), id(spec.id), settings(spec.tools), done(std::move(done)) {}
  ~Running() override {
    inner.reset();  // its callback never runs after this
    if (token != 0) {
      owner.reading_.erase(token);
    }
  }
  ApprovingProber& owner;
  std::string id;
  baseline::Settings settings;
  std::function<void(mcp::ProbeResult)> done;
  std::unique_ptr<check::RunningCheck> inner;
  uint64_t token = 0;           // waiting for the record under this token
  uint64_t readGeneration = 0;  // Known::generation when the read began
  mcp::ProbeResult result;
};

namespace {

// The 32 bytes of a 64-character lower-case hex digest; false for anything else.
bool hexBytes(std::string_view hex, Sha256* out) {
  if (hex.size() != 64) {
    return false;
  }
  const auto nibble = [](char c) -> int {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

bool ApprovingProber::judged(const Known& k, const std::string& toolsHash) {
  Sha256 h{};
  return k.judgedAny && hexBytes(toolsHash, &h) && h == k.judgedHash;
}

std::shared_ptr<const baseline::Verdict> ApprovingProber::shared(baseline::Verdict v) {
  if (v.approval == baseline::Approval::kDrifted || v.enteredDrift) {
    return std::make_shared<baseline::Verdict>(std::move(v));  // its own drift
  }
  if (v.approval == baseline::Approval::kApproved) {
    v.baselineHash.clear();
  }
  size_t h = std::hash<int>{}(static_cast<int>(v.approval)) ^ (v.quarantine ? 0x9e3779b9u : 0) ^
             std::hash<size_t>{}(v.findingsTotal) ^ std::hash<std::string>{}(v.baselineHash);
  for (const auto& f : v.findings) {
    h = h * 31 + std::hash<std::string>{}(f.tool) + std::hash<std::string>{}(f.code) * 7 +
        std::hash<std::string>{}(f.detail) * 13;
  }
  auto [begin, end] = interned_.equal_range(h);
  for (auto it = begin; it != end; ++it) {
    if (auto p = it->second.lock(); p && *p == v) {
      return p;
    }
  }
  auto p = std::make_shared<const baseline::Verdict>(std::move(v));
  interned_.emplace(h, p);
  if (++internedSinceSweep_ >= 1024 && interned_.size() >= 2048) {
    internedSinceSweep_ = 0;
    std::erase_if(interned_, [](const auto& e) { return e.second.expired(); });
  }
  return p;
}

void ApprovingProber::rejudge(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (auto it = known_.find(id); it != known_.end()) {
      it->second.read = false;
    }
  }
}

ApprovingProber::ApprovingProber(check::Prober& inner, BaselineStore* store,
                                 const auth::KeyRing* keys, std::function<int64_t()> wallMs)
    : inner_(inner), store_(store), keys_(keys), wallMs_(std::move(wallMs)) {}

ApprovingProber::~ApprovingProber() { *alive_ = false; }

std::unique_ptr<check::RunningCheck> ApprovingProber::start(
    const registry::ServerSpec& spec, std::function<void(mcp::ProbeResult)> done) {
  known_.try_emplace(spec.id);  // forget() while the check runs: its result is not judged
  auto run = std::make_unique<Running>(*this, spec, std::move(done));
  Running* raw = run.get();
  run->inner = inner_.start(spec, [this, raw](mcp::ProbeResult r) { judge(*raw, std::move(r)); });
  return run;
}

void ApprovingProber::answer(Running& run, std::shared_ptr<const baseline::Verdict> verdict) {
  run.result.verdict = std::move(verdict);
  auto done = std::move(run.done);
  done(std::move(run.result));  // may destroy `run`
}

void ApprovingProber::judge(Running& run, mcp::ProbeResult result) {
  run.result = std::move(result);
  if (store_ == nullptr) {
    run.settings.policy = baseline::Policy::kOff;
  }
  auto kit = known_.find(run.id);
  if (kit == known_.end()) {
    // Forgotten while it ran (removed, or handed to another member): not judged, and not put
    // back into the shadow index.
    return answer(run, nullptr);
  }
  Known& k = kit->second;
  if (!run.result.toolsComplete) {
    // No list to judge: the last verdict stands (a failed check changes nothing of it).
    return answer(run, k.verdict);
  }
  if (k.read && judged(k, run.result.toolsHash) && run.settings == k.judgedWith) {
    return answer(run, k.verdict);
  }
  if (run.settings.policy == baseline::Policy::kOff) {
    return finish(run, baseline::Record{});  // linted, compared with nothing
  }
  read(run, false);
}

void ApprovingProber::read(Running& run, bool definitions) {
  run.readGeneration = known_[run.id].generation;
  run.token = ++tokens_;
  reading_[run.token] = &run;
  std::weak_ptr<bool> alive = alive_;
  store_->read(run.id, definitions,
               [this, alive, definitions, token = run.token](Result<baseline::Record> r) {
                 if (alive.expired()) {
                   return;
                 }
                 auto it = reading_.find(token);
                 if (it == reading_.end()) {
                   return;  // the check was dropped meanwhile
                 }
                 Running& waiting = *it->second;
                 reading_.erase(it);
                 waiting.token = 0;
                 if (!r) {
                   if (!readErrorSaid_) {
                     readErrorSaid_ = true;
                     log::warn("tool baselines: cannot read the baseline of " + waiting.id + ": " +
                               r.error().message + "; verdicts wait until Redis answers");
                   }
                   auto kn = known_.find(waiting.id);
                   if (kn == known_.end()) {
                     return answer(waiting, nullptr);  // forgotten meanwhile
                   }
                   Known& known = kn->second;
                   known.read = false;  // read again at the next check
                   // The last verdict stands only for the list it judged; a new list gets none,
                   // but a quarantine stands (Redis away must not let a server out of it).
                   if (judged(known, waiting.result.toolsHash)) {
                     return answer(waiting, known.verdict);
                   }
                   return answer(waiting, known.verdict && known.verdict->quarantine
                                              ? unknownQuarantined()
                                              : std::shared_ptr<const baseline::Verdict>());
                 }
                 readErrorSaid_ = false;
                 auto kn = known_.find(waiting.id);
                 if (kn == known_.end()) {
                   return answer(waiting, nullptr);  // forgotten meanwhile
                 }
                 if (kn->second.generation != waiting.readGeneration) {
                   // An op baseline came while this read was under way: what it read may be the
                   // baseline from before the approval.
                   return read(waiting, definitions);
                 }
                 const baseline::Record& record = *r;
                 if (!definitions && record.state == baseline::Record::State::kValid &&
                     record.baseline.toolsHash != waiting.result.toolsHash) {
                   // Drifted: the approved definitions say which keys of the changed tools differ.
                   // (Tools only added or removed need none, but telling which first costs the diff
                   // twice.)
                   return read(waiting, true);
                 }
                 finish(waiting, record);
               });
}

void ApprovingProber::finish(Running& run, const baseline::Record& record) {
  const auto known = known_.try_emplace(run.id).first;  // its key stays put: the index keeps it
  Known& k = known->second;
  if (record.state != baseline::Record::State::kAbsent) {
    k.had = true;
  }
  if (record.state == baseline::Record::State::kValid) {
    k.lostWithRedis = false;
  }
  size_t total = 0;
  std::map<std::string, size_t> byCode;
  auto findings = baseline::lintTools(run.result.tools, &total, &byCode);
  // shadowed_name: against the other servers judged here; those whose findings change with this
  // list are judged again at their next check ("reported on both").
  rejudge(shadow_.set(k.shadowSlot, &known->first, run.result.tools));
  for (auto& f : shadow_.findings(k.shadowSlot, run.result.tools)) {
    ++total;
    ++byCode[f.code];
    if (findings.size() < baseline::kMaxFindings) {
      findings.push_back(std::move(f));
    }
  }
  baseline::History history;
  history.hadBaseline = k.had || hadBefore_.count(run.id) != 0;
  history.lostWithRedis = k.lostWithRedis;
  if (k.verdict) {
    history.previous = *k.verdict;
  } else if (k.wasDrifted) {
    history.previous.approval = baseline::Approval::kDrifted;  // announced before the restart
  }
  baseline::Judgement j =
      baseline::judge(run.id, run.settings, run.result.tools, run.result.toolsHash, record, history,
                      std::move(findings), total, json::rfc3339Millis(wallMs_()));
  if (!j.log.empty()) {
    j.logLevel == "warning" ? log::warn(j.log) : log::notice(j.log);
  }
  k.read = true;
  k.judgedAny = hexBytes(run.result.toolsHash, &k.judgedHash);
  k.judgedWith = run.settings;
  if (j.learn && !learn(run.id, std::move(*j.learn))) {
    // Not written: not approved either (else a list too large to keep would be "approved"
    // whatever it holds, check after check). Judged again at the next check.
    j.verdict.approval = baseline::Approval::kUnapproved;
    j.verdict.baselineHash.clear();
    j.verdict.quarantine =
        j.verdict.quarantine || run.settings.onDrift == baseline::Action::kQuarantine;
    k.read = false;
  }
  j.verdict.findingCounts = std::move(byCode);
  auto verdict = shared(std::move(j.verdict));
  if (verdict->enteredDrift) {
    // Entered with this result only: what later results share says it no more.
    auto kept = std::make_shared<baseline::Verdict>(*verdict);
    kept->enteredDrift = false;
    k.verdict = std::move(kept);
  } else {
    k.verdict = verdict;
  }
  answer(run, std::move(verdict));
}

bool ApprovingProber::learn(const std::string& id, baseline::Baseline b) {
  const size_t bytes = baseline::recordBytes(b);
  std::string refused;
  if (bytes > kMaxLearnBytes) {
    refused = "its tool list (" + std::to_string(bytes / (1024 * 1024)) +
              " MiB) is larger than a baseline may be (" +
              std::to_string(kMaxLearnBytes / (1024 * 1024)) + " MiB)";
  } else if (keys_ != nullptr && !keys_->empty()) {
    if (auto signedOk = baseline::sign(id, b, *keys_); !signedOk) {
      refused = "it cannot be signed: " + signedOk.error().message;
    }
  }
  if (!refused.empty()) {
    // Nothing written: an unsigned record would read back as not valid, and the server would
    // stay unapproved for good. Judged (and learned) again at its next check.
    log::warn("tool baselines: the baseline of " + id + " is not written: " + refused +
              "; its tools are unapproved");
    return false;
  }
  std::weak_ptr<bool> alive = alive_;
  store_->learn(id, b, [this, alive, id](Result<bool> written) {
    if (alive.expired()) {
      return;
    }
    Known& known = known_[id];
    if (written && *written) {
      known.had = true;
      known.lostWithRedis = false;
      return;
    }
    // Not written (Redis refused it), or another baseline was there first (an approval made
    // meanwhile): judged against what is in Redis at the next check.
    known.read = false;
    if (!written) {
      log::warn("tool baselines: cannot write the baseline of " + id + ": " +
                written.error().message);
    }
  });
  return true;
}

void ApprovingProber::reread(const std::string& serverId) {
  if (auto it = known_.find(serverId); it != known_.end()) {
    it->second.read = false;
    ++it->second.generation;  // a read under way now is read again
  }
}

void ApprovingProber::redisLost() {
  for (auto& [id, k] : known_) {
    k.read = false;
    if (k.had || hadBefore_.count(id) != 0) {
      k.lostWithRedis = true;
      k.had = false;
    }
  }
  hadBefore_.clear();  // their baselines went with the rest
}

void ApprovingProber::forget(const std::string& serverId) {
  if (auto it = known_.find(serverId); it != known_.end()) {
    if (it->second.had) {
      hadBefore_.insert(serverId);
    }
    auto affected = shadow_.remove(it->second.shadowSlot);
    known_.erase(it);
    rejudge(affected);
  }
}

void ApprovingProber::hadBaseline(const std::string& serverId, bool drifted) {
  Known& k = known_[serverId];
  k.had = true;
  k.wasDrifted = k.wasDrifted || drifted;
}

std::shared_ptr<const baseline::Verdict> ApprovingProber::unknownQuarantined() {
  static const auto v = [] {
    baseline::Verdict q;
    q.quarantine = true;  // tools_approval null, status quarantined
    return std::make_shared<const baseline::Verdict>(std::move(q));
  }();
  return v;
}

}  // namespace mcphd::approval
