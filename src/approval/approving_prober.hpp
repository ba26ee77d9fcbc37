#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "baseline/judge.hpp"
#include "baseline/shadow.hpp"
#include "check/prober.hpp"
#include "common/sha256.hpp"

namespace mcphd::auth {
class KeyRing;
}

namespace mcphd::approval {

// Where baselines live (<prefix>baseline:<id>); in the daemon, Redis.
class BaselineStore {
 public:
  virtual ~BaselineStore() = default;
  // Reads the record of `serverId`, with the approved definitions when `definitions`; `done`
  // gets it checked (baseline::fromFields; a key that is no hash, or too large, is kInvalid), or
  // an Error when Redis could not be read (then possibly inline, when not connected).
  virtual void read(const std::string& serverId, bool definitions,
                    std::function<void(Result<baseline::Record>)> done) = 0;
  // Writes a baseline learned under tofu, only when the server has none (a concurrent approval
  // wins); `done` gets whether it was written.
  virtual void learn(const std::string& serverId, const baseline::Baseline& b,
                     std::function<void(Result<bool>)> done) = 0;
};

// The tool-baseline stage of a check: wraps the prober, and judges every complete tool list
// against the server's baseline (baseline::judge) before the result reaches the scheduler, which
// sees it in ProbeResult::verdict. The record is read when the tools_hash differs from the last
// judged one, when the server's settings changed, when the baseline may have changed (reread()),
// and at a server's first complete list; otherwise the last verdict stands. It is read without
// the approved definitions first, and again with them only when tools changed (for the keys of
// the drift). Redis unreadable: the last verdict stands for the tool list it judged; a new list
// gets none (null), and is read again at the next check.
class ApprovingProber final : public check::Prober {
 public:
  // A learned baseline larger than this is not written (RedisBaselineStore would not read it).
  static constexpr size_t kMaxLearnBytes = 32 * 1024 * 1024;

  // `keys` null or empty: baselines are unsigned (the caller warns once). Read at every use: a
  // reload may add keys. `store` null: no baselines
  // (mcp-healthd --once runs without Redis): every server is judged as with tool_baseline off,
  // linted only.
  ApprovingProber(check::Prober& inner, BaselineStore* store, const auth::KeyRing* keys,
                  std::function<int64_t()> wallMs);
  ~ApprovingProber() override;

  std::unique_ptr<check::RunningCheck> start(const registry::ServerSpec& spec,
                                             std::function<void(mcp::ProbeResult)> done) override;
  std::unique_ptr<check::ToolWatch> watch(const registry::ServerSpec& spec,
                                          std::function<void()> onToolsChanged) override {
    return inner_.watch(spec, std::move(onToolsChanged));
  }

  // The baseline of `serverId` may have changed (op baseline): read again at its next check.
  void reread(const std::string& serverId);
  // Redis lost its data (reconnected to an empty one): what this daemon saw of baselines
  // before no longer proves that one exists.
  void redisLost();
  // `serverId` is no longer checked here.
  void forget(const std::string& serverId);
  // The published state said tools_approval was "approved" or "drifted" for `serverId`: a
  // baseline existed ("unapproved" proves nothing: a manual server never approved says it too).
  // `drifted`: it said "drifted" (so a restart or take-over does not announce that drift again).
  void hadBaseline(const std::string& serverId, bool drifted = false);

 private:
  struct Known {
    bool read = false;  // the record was read since it last may have changed
    bool had = false;   // a baseline existed (seen, or said by the published state)
    bool lostWithRedis = false;
    bool wasDrifted = false;  // the published state said drifted (before a verdict of ours)
    uint64_t generation = 0;  // increased by reread(): a read begun before it is read again
    // The tools_hash of the last verdict, as bytes (32, not a 65-byte string per server);
    // judgedAny false: none judged, or a tools_hash that is not hex.
    Sha256 judgedHash{};
    bool judgedAny = false;
    baseline::Settings judgedWith;  // ... and the settings it was judged with
    // Shared with every result it stands for (the same verdict check after check): not copied
    // per check.
    std::shared_ptr<const baseline::Verdict> verdict;
    // Its place in shadow_, which keeps a pointer to this entry's key (std::map keys stay put).
    baseline::ShadowIndex::Slot shadowSlot = baseline::ShadowIndex::kNoSlot;
  };
  class Running;
  // Whether `toolsHash` is the last one judged for `k`.
  static bool judged(const Known& k, const std::string& toolsHash);
  // A verdict without a drift is often the same for many servers (approved, with the same
  // findings): kept once, shared (10,000 servers kept 3 MB of identical verdicts). An approved
  // verdict keeps no baselineHash: it is the list's own tools_hash.
  std::shared_ptr<const baseline::Verdict> shared(baseline::Verdict v);
  // The verdict of a new tool list that could not be judged (Redis away) of a server that was
  // quarantined: still quarantined, tools_approval null.
  static std::shared_ptr<const baseline::Verdict> unknownQuarantined();
  // Servers whose shadowed names changed: judged again at their next check.
  void rejudge(const std::vector<std::string>& ids);
  // The inner check of `run` is done.
  void judge(Running& run, mcp::ProbeResult result);
  // Reads the record (with definitions or not) for `run`, then finishes it.
  void read(Running& run, bool definitions);
  void finish(Running& run, const baseline::Record& record);
  // Signs and writes a learned baseline; false (logged) when it cannot be written at all (too
  // large, cannot be signed): then the list is not approved.
  bool learn(const std::string& id, baseline::Baseline b);
  void answer(Running& run, std::shared_ptr<const baseline::Verdict> verdict);

  check::Prober& inner_;
  BaselineStore* store_;
  const auth::KeyRing* keys_;
  std::function<int64_t()> wallMs_;
  std::map<std::string, Known> known_;
  std::map<uint64_t, Running*> reading_;  // checks waiting for their record, by token
  baseline::ShadowIndex shadow_;          // the tool names of every server judged here
  // Servers that had a baseline and are no longer checked here (removed, released): one
  // registered again, or taken back, is not a server never baselined.
  std::set<std::string> hadBefore_;
  // Shared verdicts by a hash of their content (several per hash when they collide).
  std::unordered_multimap<size_t, std::weak_ptr<const baseline::Verdict>> interned_;
  size_t internedSinceSweep_ = 0;
  uint64_t tokens_ = 0;
  bool readErrorSaid_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for the store's callbacks
};

}  // namespace mcphd::approval
