#include "cluster/ownership.hpp"

#include <algorithm>
#include <limits>

#include "cluster/rendezvous.hpp"
#include "common/log.hpp"

namespace mcphd::cluster {

namespace {

bool live(const ClusterView& view, const std::string& member) {
  return std::binary_search(view.members.begin(), view.members.end(), member);
}

}  // namespace

Ownership::Ownership(OwnedServers& target, Clock& clock, loop::TimerFactory& timers,
                     std::string self, int64_t graceMs)
    : target_(target),
      clock_(clock),
      self_(std::move(self)),
      graceMs_(graceMs),
      graceTimer_(timers.createTimer()),
      readTimer_(timers.createTimer()) {}

std::string Ownership::ownerOf(const std::string& id) const {
  auto it = servers_.find(id);
  return it == servers_.end() ? std::string() : it->second.owner;
}

std::string Ownership::computeOwner(const Entry& e) const {
  if (!view_) {
    return {};
  }
  if (e.spec.source != registry::Source::kConfig) {
    return cluster::ownerOf(e.spec.id, view_->members);
  }
  // A config-file server: this member, and the members that declare it the same way.
  std::vector<std::string> candidates = {self_};
  for (const auto& member : view_->sameWhole) {
    if (member != self_ && live(*view_, member)) {
      candidates.push_back(member);
    }
  }
  for (const auto& [member, ids] : view_->sameConfig) {
    if (member != self_ && ids.count(e.spec.id) != 0 && live(*view_, member)) {
      candidates.push_back(member);
    }
  }
  return cluster::ownerOf(e.spec.id, candidates);
}

void Ownership::setState(Entry& e, State s) {
  const bool before = e.state != State::kElsewhere;
  const bool after = s != State::kElsewhere;
  const bool gainingBefore = e.state == State::kGrace || e.state == State::kReading;
  const bool gainingAfter = s == State::kGrace || s == State::kReading;
  e.state = s;
  if (before != after) {
    after ? ++owned_ : --owned_;
  }
  if (gainingBefore != gainingAfter) {
    gainingAfter ? ++gaining_ : --gaining_;
  }
}

void Ownership::place(const std::string& id, Entry& e) {
  e.owner = computeOwner(e);
  if (e.owner != self_) {
    if (e.state == State::kOwned) {
      target_.release(id);
    }
    setState(e, State::kElsewhere);  // a grace or a read under way is dropped
    return;
  }
  if (e.state == State::kElsewhere) {
    e.graced = false;
    read(id, e);  // gained: by its published state
  }
}

void Ownership::read(const std::string& id, Entry& e) {
  setState(e, State::kReading);
  e.read = 0;  // not in a read yet
  toRead_.push_back(id);
  if (!readTimer_->active()) {
    readTimer_->start(0, [this] { startRead(); });  // one read for all gained in this turn
  }
}

void Ownership::setView(const ClusterView& view) {
  if (std::find(view.members.begin(), view.members.end(), self_) == view.members.end()) {
    // Not announced (yet): Redis answered a heartbeat that did not list this member. Keep what
    // we have rather than drop every server for a moment.
    return;
  }
  view_ = view;
  for (auto& [id, e] : servers_) {
    place(id, e);
  }
}

void Ownership::upsertServer(const registry::ServerSpec& spec, Trigger firstCheck) {
  auto [it, inserted] = servers_.try_emplace(spec.id);
  Entry& e = it->second;
  e.spec = spec;
  if (inserted) {
    e.firstCheck = firstCheck;
  }
  if (!view_) {
    return;
  }
  const bool wasOwned = e.state == State::kOwned;
  place(spec.id, e);
  if (wasOwned && e.state == State::kOwned) {
    target_.own(spec, firstCheck);  // new settings; the scheduler keeps its state
  }
}

void Ownership::removeServer(const std::string& id) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    return;
  }
  if (it->second.state == State::kOwned) {
    target_.remove(id);
  } else {
    target_.forget(id);
  }
  setState(it->second, State::kElsewhere);
  servers_.erase(it);
}

void Ownership::forget(const std::string& id) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    return;
  }
  setState(it->second, State::kElsewhere);
  servers_.erase(it);
  target_.forget(id);
}

void Ownership::armGrace(int64_t untilMs) {
  if (graceTimer_->active() && graceDueMs_ <= untilMs) {
    return;  // it fires sooner, and arms itself again for what is left
  }
  graceDueMs_ = untilMs;
  graceTimer_->start(std::max<int64_t>(0, untilMs - clock_.nowMs()), [this] { graceOver(); });
}

void Ownership::graceOver() {
  const int64_t now = clock_.nowMs();
  int64_t next = std::numeric_limits<int64_t>::max();
  for (auto& [id, e] : servers_) {
    if (e.state != State::kGrace) {
      continue;
    }
    if (e.graceUntilMs <= now) {
      read(id, e);  // again: the member that had it has published its last result by now
    } else {
      next = std::min(next, e.graceUntilMs);
    }
  }
  if (next != std::numeric_limits<int64_t>::max()) {
    armGrace(next);
  }
}

void Ownership::startRead() {
  std::vector<std::string> ids;
  const uint64_t read = ++reads_;
  for (auto& id : toRead_) {
    auto it = servers_.find(id);
    if (it != servers_.end() && it->second.state == State::kReading && it->second.read == 0) {
      it->second.read = read;
      ids.push_back(std::move(id));
    }
  }
  toRead_.clear();
  if (ids.empty()) {
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  target_.readPublished(
      std::move(ids),
      [this, alive, read](const std::optional<std::map<std::string, Published>>& published) {
        if (alive.lock()) {
          onRead(read, published);
        }
      });
}

void Ownership::onRead(uint64_t read,
                       const std::optional<std::map<std::string, Published>>& published) {
  const int64_t now = clock_.nowMs();
  size_t handedOver = 0;
  int64_t graceUntil = std::numeric_limits<int64_t>::max();
  std::vector<std::string> again;
  for (auto& [id, e] : servers_) {
    if (e.state != State::kReading || e.read != read) {
      continue;  // released, removed or read again since
    }
    if (!published) {
      again.push_back(id);  // Redis could not be read: a hand-over needs what it published
      continue;
    }
    auto p = published->find(id);
    std::optional<scheduler::LastCheck> last;
    Trigger trigger = e.firstCheck;
    if (p != published->end()) {
      const std::string& by = p->second.checkedBy;
      if (!by.empty() && by != self_ && !e.graced && view_ && live(*view_, by)) {
        // Still live: it may be checking it until it sees the change, and a check it has under
        // way publishes up to its timeout later. Read again after that.
        e.graced = true;
        setState(e, State::kGrace);
        e.graceUntilMs = now + graceMs_ + e.spec.timeoutMs;
        graceUntil = std::min(graceUntil, e.graceUntilMs);
        continue;
      }
      last = p->second.last;
      if (!by.empty() && by != self_) {
        trigger = Trigger::kHandover;
        ++handedOver;
      }
    }
    setState(e, State::kOwned);
    target_.adopt(e.spec, trigger, last);
  }
  if (graceUntil != std::numeric_limits<int64_t>::max()) {
    armGrace(graceUntil);
  }
  if (!again.empty()) {
    // Retried a second later (the publisher's connection is coming back).
    for (const auto& id : again) {
      servers_[id].read = 0;
      toRead_.push_back(id);
    }
    readTimer_->start(1000, [this] { startRead(); });
  }
  if (handedOver > 0) {
    log::info("cluster: took over " + std::to_string(handedOver) + " servers from other members");
  }
}

}  // namespace mcphd::cluster
