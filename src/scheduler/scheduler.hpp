#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "check/prober.hpp"
#include "common/clock.hpp"
#include "common/trigger.hpp"
#include "loop/timer.hpp"
#include "registry/server_spec.hpp"
#include "scheduler/broadcast_log.hpp"
#include "scheduler/health_state.hpp"

namespace mcphd::scheduler {

// One check's result with the state it led to: what gets published.
struct CheckReport {
  std::string serverId;
  std::string name;  // the server's display name; empty when it has none
  Status status = Status::kUnknown;
  Status previousStatus = Status::kUnknown;
  bool changed = false;
  Trigger trigger = Trigger::kSchedule;
  std::vector<std::string> commandIds;  // commands naming this server that this check answers
  // The `check *` generations this check answers: (broadcastFrom, broadcastTo] (BroadcastLog).
  uint64_t broadcastFrom = 0;
  uint64_t broadcastTo = 0;
  Answers answers() const { return Answers{commandIds, broadcastFrom, broadcastTo}; }
  int64_t checkedAtWallMs = 0;
  int64_t statusSinceWallMs = 0;  // when the server entered `status`
  int consecutiveFailures = 0;
  int consecutiveSuccesses = 0;
  mcp::ProbeResult probe;
};

// How a probe result counts for the state machine.
Outcome outcomeOf(const mcp::ProbeResult& r);

// The report of a single check with no history (mcp-healthd --once, mcp-healthctl probe): the
// first result applies at once.
CheckReport singleCheckReport(const std::string& serverId, mcp::ProbeResult result, Trigger trigger,
                              int64_t wallMs);

// What the published state (<prefix>status) said of a server when the daemon started.
struct LastCheck {
  int64_t checkedAtWallMs = 0;
  Status status = Status::kUnknown;
  int consecutiveFailures = 0;
  int consecutiveSuccesses = 0;
  int64_t statusSinceWallMs = 0;  // 0: not known
};
using Snapshot = std::map<std::string, LastCheck>;

// The one rule for when a server that has no check scheduled yet is due, as a delay from
// `nowWallMs`: its last check + its interval (the backoff interval while it was unhealthy) +
// jitter; now (0) when it was never checked (`last` null) or is overdue.
int64_t firstCheckDelayMs(const registry::ServerSpec& spec, const LastCheck* last,
                          int64_t nowWallMs, Random& random);

// Receives every check result, in completion order.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  // Called from the loop; must not call back into the Scheduler synchronously.
  virtual void onReport(const CheckReport& report) = 0;
  // The server left the registry; `answers` are the commands this answers (the remove command,
  // and checks that were waiting for the server).
  virtual void onRemoved(const std::string& serverId, const Answers& answers) = 0;
};

// Schedules the checks of every server: per-server timers with jitter, first checks by one rule
// (firstCheckDelayMs, from the published state read at start-up), at most one check per server at
// a time and at most `maxConcurrent` overall (extra work waits in due order), the health state
// machine, and backoff while unhealthy.
class Scheduler final : public registry::ServerListener {
 public:
  Scheduler(Clock& clock, loop::TimerFactory& timers, Random& random, check::Prober& prober,
            ResultSink& sink, size_t maxConcurrent);
  ~Scheduler() override;

  // A new server's first check is due by firstCheckDelayMs (held until the snapshot is known, see
  // awaitSnapshot), with trigger `firstCheck`; an existing one keeps its state and schedule with
  // the new settings.
  void upsertServer(const registry::ServerSpec& spec, Trigger firstCheck) override;
  void removeServer(const std::string& id) override { removeServer(id, {}); }
  // Removal asked for by command `commandId` (empty: none).
  void removeServer(const std::string& id, const std::string& commandId);

  // Cluster ownership (cluster::Ownership). A server taken over from another member: its first
  // check is due by its last published check `last` (firstCheckDelayMs; now when there is none),
  // and its state machine continues from that check's status and counts, so the hand-over
  // neither checks it twice nor restarts its thresholds. An existing server only takes `spec`
  // (as upsertServer), and one being released is kept.
  void adoptServer(const registry::ServerSpec& spec, Trigger trigger,
                   const std::optional<LastCheck>& last);
  // The server is checked by another member from now on: nothing more is scheduled and its watch
  // ends; a check under way (or queued for commands) still runs and publishes, answering the
  // commands that wait for it, and then the server is forgotten; a queued scheduled check is
  // dropped. No removal is published.
  void releaseServer(const std::string& id);

  // Checks a server as soon as a slot is free. Asked for while one of its checks is queued or in
  // flight, it joins that check: one probe answers every command id. False for an unknown id.
  bool checkNow(const std::string& id, Trigger trigger, const std::string& commandId = {});
  // `check *`: every server now, the command answered by each one's next result (joining checks
  // under way) and done when all have answered (broadcasts().onDone). False when there are no
  // servers.
  bool checkAll(Trigger trigger, const std::string& commandId);

  // Start-up: the first checks of new servers wait until setSnapshot says when each is due.
  void awaitSnapshot() { awaitingSnapshot_ = true; }
  // The published state read at start-up, or nullopt when it cannot be read (every server is then
  // due now). Servers added later (registry, reload) are looked up in it too; a removed server is
  // forgotten there.
  void setSnapshot(std::optional<Snapshot> snapshot);
  bool awaitingSnapshot() const { return awaitingSnapshot_; }
  BroadcastLog& broadcasts() { return broadcasts_; }
  std::vector<std::string> serverIds() const;
  bool has(const std::string& id) const { return sessions_.count(id) != 0; }
  // Cancels every timer and check in flight; nothing runs afterwards.
  void stop();

  // How many servers are in each status (every status present, 0 when none).
  std::map<Status, size_t> statusCounts() const;
  // max_concurrent_checks changed (config reload): queued checks start if there is room now.
  void setMaxConcurrent(size_t n);
  // max_watches: at most this many kept watch sessions; servers beyond it are re-listed by their
  // periodic checks only (logged once per server). Existing watches are not dropped.
  void setMaxWatches(size_t n) { maxWatches_ = n; }
  size_t watches() const { return watches_; }

  size_t running() const { return running_; }
  size_t queued() const { return queue_.size(); }
  size_t servers() const { return sessions_.size(); }
  const HealthState* state(const std::string& id) const;

 private:
  struct Session {
    registry::ServerSpec spec;
    HealthState state;
    std::unique_ptr<loop::Timer> timer;
    std::unique_ptr<check::RunningCheck> inFlight;
    bool queued = false;
    bool checkedOnce = false;
    Trigger trigger = Trigger::kSchedule;
    bool awaitingFirst = false;  // added while the snapshot was awaited: nothing armed yet
    Trigger firstTrigger = Trigger::kStartup;
    std::vector<std::string> commandIds;  // waiting for this server's next result
    uint64_t broadcastAnswered = 0;       // `check *` generations answered up to here
    uint64_t broadcastWanted = 0;         // ... and asked for up to here
    int64_t statusSinceWallMs = 0;
    // The status last reported: the health state's, or kQuarantined over a healthy one.
    Status shown = Status::kUnknown;
    bool parked = false;  // auth_required: no scheduled checks until the spec changes
    // watch_tools: the session kept open for tools/list_changed, started after a check that
    // found the server advertising it; dropped when the spec changes.
    std::unique_ptr<check::ToolWatch> watch;
    bool watchRefused = false;  // over max_watches: said once
    bool releasing = false;     // released while a check was under way: forgotten after it
  };

  void due(Session& s, Trigger trigger);
  void armFirstCheck(Session& s);
  void launch(Session& s);
  void onDone(Session& s, mcp::ProbeResult result);
  void startQueued();
  void dropWatch(Session& s);
  // Forgets a server without publishing anything (released, or removed after its answers).
  void erase(const std::string& id);

  Clock& clock_;
  loop::TimerFactory& timers_;
  Random& random_;
  check::Prober& prober_;
  ResultSink& sink_;
  size_t maxConcurrent_;
  size_t running_ = 0;
  bool stopped_ = false;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::deque<std::string> queue_;  // ids waiting for a slot, in the order they fell due
  BroadcastLog broadcasts_;
  bool awaitingSnapshot_ = false;
  Snapshot snapshot_;
  size_t maxWatches_ = 1'000;
  size_t watches_ = 0;
};

}  // namespace mcphd::scheduler
