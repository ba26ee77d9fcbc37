#include "scheduler/scheduler.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace mcphd::scheduler {

Scheduler::Scheduler(Clock& clock, loop::TimerFactory& timers, Random& random,
                     check::Prober& prober, ResultSink& sink, size_t maxConcurrent)
    : clock_(clock),
      timers_(timers),
      random_(random),
      prober_(prober),
      sink_(sink),
      maxConcurrent_(std::max<size_t>(1, maxConcurrent)) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::dropWatch(Session& s) {
  if (s.watch) {
    s.watch.reset();
    --watches_;
  }
}

void Scheduler::stop() {
  stopped_ = true;
  for (auto& [id, s] : sessions_) {
    s->timer->stop();
    s->inFlight.reset();
    dropWatch(*s);
    s->queued = false;
  }
  queue_.clear();
  running_ = 0;
}

std::map<Status, size_t> Scheduler::statusCounts() const {
  std::map<Status, size_t> counts = {{Status::kUnknown, 0},      {Status::kHealthy, 0},
                                     {Status::kDegraded, 0},     {Status::kUnhealthy, 0},
                                     {Status::kAuthRequired, 0}, {Status::kQuarantined, 0}};
  for (const auto& [id, s] : sessions_) {
    ++counts[s->shown];
  }
  return counts;
}

void Scheduler::setMaxConcurrent(size_t n) {
  maxConcurrent_ = std::max<size_t>(1, n);
  startQueued();
}

const HealthState* Scheduler::state(const std::string& id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second->state;
}

void Scheduler::upsertServer(const registry::ServerSpec& spec, Trigger firstCheck) {
  auto it = sessions_.find(spec.id);
  if (it != sessions_.end()) {
    Session& s = *it->second;
    const bool changed = !(s.spec == spec);
    s.spec = spec;
    s.releasing = false;  // taken back before its last check ended: that check re-arms it
    if (changed) {
      dropWatch(s);  // watched again (or not) after the next check with the new settings
      s.watchRefused = false;
    }
    if (changed && s.parked && !stopped_) {
      s.parked = false;  // the record changed: worth another look
      Session* raw = &s;
      s.timer->start(0, [this, raw] { due(*raw, Trigger::kResync); });
    }
    return;
  }
  auto s = std::make_unique<Session>();
  s->spec = spec;
  s->timer = timers_.createTimer();
  // A server added now owes no `check *` asked for before it existed.
  s->broadcastAnswered = s->broadcastWanted = broadcasts_.current();
  s->firstTrigger = firstCheck;
  Session* raw = s.get();
  sessions_.emplace(spec.id, std::move(s));
  if (stopped_) {
    return;
  }
  if (awaitingSnapshot_) {
    raw->awaitingFirst = true;  // armed by setSnapshot
    return;
  }
  armFirstCheck(*raw);
}

void Scheduler::adoptServer(const registry::ServerSpec& spec, Trigger trigger,
                            const std::optional<LastCheck>& last) {
  if (auto it = sessions_.find(spec.id); it != sessions_.end()) {
    // Released while its check was under way, and back: that check re-arms its schedule.
    it->second->releasing = false;
    upsertServer(spec, trigger);
    return;
  }
  snapshot_.erase(spec.id);  // `last` is newer than what was read at start-up
  auto s = std::make_unique<Session>();
  s->spec = spec;
  s->timer = timers_.createTimer();
  s->broadcastAnswered = s->broadcastWanted = broadcasts_.current();
  s->firstTrigger = trigger;
  if (last) {
    s->state.restore(last->status, last->consecutiveFailures, last->consecutiveSuccesses,
                     spec.unhealthyThreshold);
    s->shown = last->status;
    s->statusSinceWallMs = last->statusSinceWallMs;
  }
  Session* raw = s.get();
  sessions_.emplace(spec.id, std::move(s));
  if (stopped_) {
    return;
  }
  if (raw->state.status() == Status::kAuthRequired) {
    raw->parked = true;  // as its previous owner left it: until the record changes
    return;
  }
  const int64_t delay = firstCheckDelayMs(spec, last ? &*last : nullptr, clock_.wallMs(), random_);
  raw->timer->start(delay, [this, raw] { due(*raw, raw->firstTrigger); });
}

void Scheduler::releaseServer(const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return;
  }
  Session& s = *it->second;
  s.timer->stop();
  dropWatch(s);
  s.parked = false;
  s.awaitingFirst = false;
  const bool owes = !s.commandIds.empty() || s.broadcastAnswered != s.broadcastWanted;
  if (s.inFlight || (s.queued && owes)) {
    // Forgotten once that check has published (onDone): its result, and the commands waiting
    // for it, are answered by this member.
    s.releasing = true;
    return;
  }
  erase(id);  // a queued scheduled check is dropped: its queue entry is skipped when reached
}

void Scheduler::erase(const std::string& id) {
  snapshot_.erase(id);
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    dropWatch(*it->second);
    sessions_.erase(it);  // cancels its timer
  }
}

void Scheduler::armFirstCheck(Session& s) {
  s.awaitingFirst = false;
  auto it = snapshot_.find(s.spec.id);
  const int64_t delay = firstCheckDelayMs(s.spec, it == snapshot_.end() ? nullptr : &it->second,
                                          clock_.wallMs(), random_);
  if (it != snapshot_.end()) {
    snapshot_.erase(it);  // used: a later re-registration is a new server
  }
  Session* raw = &s;
  s.timer->start(delay, [this, raw] { due(*raw, raw->firstTrigger); });
}

void Scheduler::setSnapshot(std::optional<Snapshot> snapshot) {
  if (!awaitingSnapshot_) {
    return;  // given once, at start-up
  }
  awaitingSnapshot_ = false;
  snapshot_ = snapshot ? std::move(*snapshot) : Snapshot{};
  if (stopped_) {
    return;
  }
  for (auto& [id, s] : sessions_) {
    if (s->awaitingFirst) {
      armFirstCheck(*s);
    }
  }
}

int64_t firstCheckDelayMs(const registry::ServerSpec& spec, const LastCheck* last,
                          int64_t nowWallMs, Random& random) {
  if (last == nullptr || last->checkedAtWallMs <= 0) {
    return 0;  // never seen: due now
  }
  int64_t interval = spec.intervalMs;
  if (last->status == Status::kUnhealthy) {
    // The backoff it was in: unhealthy_interval doubled per retry while unhealthy, up to
    // max_backoff (as HealthState::nextDelayMs grows it). The retries are counted from the
    // failures beyond the threshold: never more than it made, so never later than it would be.
    interval = spec.unhealthyIntervalMs;
    const int retries =
        std::max(0, last->consecutiveFailures - std::max(1, spec.unhealthyThreshold));
    for (int i = 0; i < retries && interval < spec.maxBackoffMs; ++i) {
      interval *= 2;
    }
    interval = std::min(interval, spec.maxBackoffMs);
  }
  interval = std::max<int64_t>(interval, 1);
  const auto jitter =
      static_cast<int64_t>(random.uniform() * spec.jitter * static_cast<double>(interval));
  const int64_t dueAt = last->checkedAtWallMs + interval + jitter;
  // A clock that went back (checked_at in the future) cannot push a check beyond one interval.
  return std::clamp<int64_t>(dueAt - nowWallMs, 0, interval + jitter);
}

void Scheduler::removeServer(const std::string& id, const std::string& commandId) {
  Answers answers;
  if (!commandId.empty()) {
    answers.ids.push_back(commandId);
  }
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    if (!answers.empty()) {
      sink_.onRemoved(id, answers);
    }
    return;
  }
  if (it->second->inFlight) {
    --running_;
  }
  dropWatch(*it->second);
  snapshot_.erase(id);
  // Commands waiting for this server's result are answered by the removal.
  const Session& gone = *it->second;
  answers.ids.insert(answers.ids.end(), gone.commandIds.begin(), gone.commandIds.end());
  answers.addRange(gone.broadcastAnswered, gone.broadcastWanted);
  sessions_.erase(it);  // cancels its timer and any check in flight
  // Its queue entry, if any, is skipped when reached.
  sink_.onRemoved(id, answers);
  startQueued();
}

bool Scheduler::checkAll(Trigger trigger, const std::string& commandId) {
  if (sessions_.empty() || stopped_) {
    return false;
  }
  const uint64_t g = broadcasts_.add(commandId, sessions_.size());
  for (auto& [id, s] : sessions_) {
    s->broadcastWanted = g;
    if (s->inFlight || s->queued) {
      s->trigger = trigger;  // joins the check under way
      continue;
    }
    s->timer->stop();
    s->parked = false;
    s->awaitingFirst = false;
    due(*s, trigger);
  }
  return true;
}

std::vector<std::string> Scheduler::serverIds() const {
  std::vector<std::string> ids;
  ids.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    ids.push_back(id);
  }
  return ids;
}

bool Scheduler::checkNow(const std::string& id, Trigger trigger, const std::string& commandId) {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || stopped_) {
    return false;
  }
  Session& s = *it->second;
  if (!commandId.empty()) {
    s.commandIds.push_back(commandId);
  }
  if (s.inFlight || s.queued) {
    // Join the check under way; its result answers this request too.
    if (!commandId.empty()) {
      s.trigger = trigger;
    }
    return true;
  }
  s.timer->stop();
  s.parked = false;
  s.awaitingFirst = false;
  due(s, trigger);
  return true;
}

void Scheduler::due(Session& s, Trigger trigger) {
  s.trigger = trigger;
  if (s.inFlight || s.queued) {
    return;
  }
  if (running_ < maxConcurrent_) {
    launch(s);
    return;
  }
  s.queued = true;
  queue_.push_back(s.spec.id);
}

void Scheduler::launch(Session& s) {
  ++running_;
  Session* raw = &s;
  s.inFlight =
      prober_.start(s.spec, [this, raw](mcp::ProbeResult r) { onDone(*raw, std::move(r)); });
}

CheckReport singleCheckReport(const std::string& serverId, mcp::ProbeResult result, Trigger trigger,
                              int64_t wallMs) {
  HealthState state;
  CheckReport rep;
  rep.serverId = serverId;
  rep.changed = state.apply(outcomeOf(result), 1, 1);
  rep.status = state.status() == Status::kHealthy && result.verdict && result.verdict->quarantine
                   ? Status::kQuarantined
                   : state.status();
  rep.trigger = trigger;
  rep.checkedAtWallMs = wallMs;
  rep.statusSinceWallMs = wallMs;
  rep.consecutiveFailures = state.consecutiveFailures();
  rep.consecutiveSuccesses = state.consecutiveSuccesses();
  rep.probe = std::move(result);
  return rep;
}

Outcome outcomeOf(const mcp::ProbeResult& r) {
  if (!r.error) {
    return Outcome::kSuccess;
  }
  if (r.authRequired) {
    return Outcome::kAuthRequired;
  }
  if (r.initialized) {
    return Outcome::kDegraded;
  }
  return r.retriable ? Outcome::kRetriableFailure : Outcome::kHardFailure;
}

void Scheduler::onDone(Session& s, mcp::ProbeResult result) {
  s.inFlight.reset();  // allowed from inside its own callback (check::Prober's contract)
  --running_;
  CheckReport report;
  report.serverId = s.spec.id;
  report.name = s.spec.name;
  report.previousStatus = s.shown;
  s.state.apply(outcomeOf(result), s.spec.healthyThreshold, s.spec.unhealthyThreshold);
  // A health failure wins over a quarantine; a quarantined server is healthy again as soon as
  // its tool set is (approved, or back to the baseline): no healthy_threshold to wait for.
  report.status =
      s.state.status() == Status::kHealthy && result.verdict && result.verdict->quarantine
          ? Status::kQuarantined
          : s.state.status();
  report.changed = report.status != report.previousStatus;
  s.shown = report.status;
  report.trigger = s.trigger;
  report.commandIds = std::move(s.commandIds);
  s.commandIds.clear();
  report.broadcastFrom = s.broadcastAnswered;
  report.broadcastTo = s.broadcastWanted;
  s.broadcastAnswered = s.broadcastWanted;
  report.checkedAtWallMs = clock_.wallMs();
  if (report.changed || s.statusSinceWallMs == 0) {
    s.statusSinceWallMs = report.checkedAtWallMs;
  }
  report.statusSinceWallMs = s.statusSinceWallMs;
  report.consecutiveFailures = s.state.consecutiveFailures();
  report.consecutiveSuccesses = s.state.consecutiveSuccesses();
  s.checkedOnce = true;
  const std::optional<int64_t> retryAfter = result.retryAfterMs;
  report.probe = std::move(result);

  if (report.changed) {
    std::string line = "server " + s.spec.id + ": " + statusName(report.previousStatus) + " -> " +
                       statusName(report.status);
    if (report.probe.error) {
      line += std::string(" (") + mcp::errorKindName(report.probe.error->kind) + ": " +
              report.probe.error->message + ")";
    }
    log::notice(line);
  }
  if (s.releasing) {
    // Another member checks it now: this last result is published, and nothing follows.
    const std::string id = s.spec.id;
    sink_.onReport(report);
    erase(id);
    startQueued();
    return;
  }
  Session* raw = &s;
  if (s.spec.watchTools && !s.watch && !stopped_ && !report.probe.error &&
      report.probe.toolsListChanged) {
    if (watches_ >= maxWatches_) {
      if (!s.watchRefused) {
        s.watchRefused = true;
        log::warn("server " + s.spec.id + ": max_watches (" + std::to_string(maxWatches_) +
                  ") sessions are kept already; its tools are re-listed by its periodic checks");
      }
    } else {
      const std::string id = s.spec.id;
      s.watch = prober_.watch(s.spec, [this, id] { checkNow(id, Trigger::kListChanged); });
      if (s.watch) {
        ++watches_;
      }
    }
  }
  if (report.status == Status::kAuthRequired) {
    // Probing again cannot help until someone authorizes: wait for the record to change.
    s.parked = true;
  } else {
    int64_t delay = s.state.nextDelayMs(s.spec, retryAfter, random_);
    s.timer->start(delay, [this, raw] { due(*raw, Trigger::kSchedule); });
  }
  sink_.onReport(report);
  startQueued();
}

void Scheduler::startQueued() {
  while (running_ < maxConcurrent_ && !queue_.empty() && !stopped_) {
    std::string id = std::move(queue_.front());
    queue_.pop_front();
    auto it = sessions_.find(id);
    if (it == sessions_.end() || !it->second->queued) {
      continue;
    }
    it->second->queued = false;
    launch(*it->second);
  }
}

}  // namespace mcphd::scheduler
