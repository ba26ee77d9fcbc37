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
  uint64_t token = 0;  // waiting for the record under this token
  mcp::ProbeResult result;
};

ApprovingProber::ApprovingProber(check::Prober& inner, BaselineStore& store,
                                 const auth::KeyRing* keys, std::function<int64_t()> wallMs)
    : inner_(inner), store_(store), keys_(keys), wallMs_(std::move(wallMs)) {}

ApprovingProber::~ApprovingProber() = default;

std::unique_ptr<check::RunningCheck> ApprovingProber::start(
    const registry::ServerSpec& spec, std::function<void(mcp::ProbeResult)> done) {
  auto run = std::make_unique<Running>(*this, spec, std::move(done));
  Running* raw = run.get();
  run->inner = inner_.start(spec, [this, raw](mcp::ProbeResult r) { judge(*raw, std::move(r)); });
  return run;
}

void ApprovingProber::judge(Running& run, mcp::ProbeResult result) {
  Known& k = known_[run.id];
  if (!result.toolsComplete || (k.read && result.toolsHash == k.judgedHash)) {
    // No new list to judge: the last verdict stands (a failed check changes nothing of it).
    result.verdict = k.verdict;
    auto done = std::move(run.done);
    done(std::move(result));  // may destroy `run`
    return;
  }
  run.result = std::move(result);
  if (run.settings.policy == baseline::Policy::kOff) {
    finish(run, baseline::Record{});  // linted, compared with nothing
    return;
  }
  run.token = ++tokens_;
  reading_[run.token] = &run;
  store_.read(run.id, true, [this, token = run.token](Result<baseline::Record> r) {
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
                  r.error().message + "; the previous verdicts stand until Redis answers");
      }
      Known& known = known_[waiting.id];
      waiting.result.verdict = known.verdict;
      auto done = std::move(waiting.done);
      done(std::move(waiting.result));
      return;
    }
    readErrorSaid_ = false;
    finish(waiting, *r);
  });
}

void ApprovingProber::finish(Running& run, const baseline::Record& record) {
  Known& k = known_[run.id];
  if (record.state != baseline::Record::State::kAbsent) {
    k.had = true;
  }
  size_t total = 0;
  auto findings = baseline::lintTools(run.result.tools, &total);
  baseline::History history;
  history.hadBaseline = k.had;
  history.lostWithRedis = k.lostWithRedis;
  if (k.verdict) {
    history.previous = *k.verdict;
  }
  baseline::Judgement j =
      baseline::judge(run.id, run.settings, run.result.tools, run.result.toolsHash, record, history,
                      std::move(findings), total, json::rfc3339Millis(wallMs_()));
  if (!j.log.empty()) {
    j.logLevel == "warning" ? log::warn(j.log) : log::notice(j.log);
  }
  if (j.learn) {
    if (keys_ != nullptr) {
      if (auto signedOk = baseline::sign(run.id, *j.learn, *keys_); !signedOk) {
        log::warn("tool baselines: cannot sign the baseline of " + run.id + ": " +
                  signedOk.error().message);
      }
    }
    k.had = true;
    k.lostWithRedis = false;
    store_.learn(run.id, *j.learn, [id = run.id](Result<bool> written) {
      if (!written) {
        log::warn("tool baselines: cannot write the baseline of " + id + ": " +
                  written.error().message);
      }
    });
  }
  k.read = true;
  k.judgedHash = run.result.toolsHash;
  auto verdict = std::make_shared<baseline::Verdict>(std::move(j.verdict));
  if (verdict->enteredDrift) {
    // Entered with this result only: what later results share says it no more.
    auto kept = std::make_shared<baseline::Verdict>(*verdict);
    kept->enteredDrift = false;
    k.verdict = std::move(kept);
  } else {
    k.verdict = verdict;
  }
  run.result.verdict = std::move(verdict);
  auto done = std::move(run.done);
  done(std::move(run.result));
}

void ApprovingProber::reread(const std::string& serverId) {
  if (auto it = known_.find(serverId); it != known_.end()) {
    it->second.read = false;
  }
}

void ApprovingProber::redisLost() {
  for (auto& [id, k] : known_) {
    k.read = false;
    if (k.had) {
      k.lostWithRedis = true;
      k.had = false;
    }
  }
}

void ApprovingProber::forget(const std::string& serverId) { known_.erase(serverId); }

void ApprovingProber::hadBaseline(const std::string& serverId) { known_[serverId].had = true; }

}  // namespace mcphd::approval
