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
      graceTimer_(timers.createTimer()) {}

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
  e.state = s;
  if (before != after) {
    after ? ++owned_ : --owned_;
  }
}

void Ownership::place(const std::string& id, Entry& e, const ClusterView* previous) {
  const std::string before = e.owner;
  e.owner = computeOwner(e);
  if (e.owner != self_) {
    if (e.state == State::kOwned) {
      target_.release(id);
    }
    setState(e, State::kElsewhere);  // a grace or a read under way is dropped
    return;
  }
  if (e.state != State::kElsewhere) {
    return;  // ours already
  }
  // Gained: from whom? A server placed before had an owner. At the first view (start-up), it
  // may have been with whichever other member would own it; a server new since was nobody's.
  std::string had = before;
  if (had.empty() && previous == nullptr) {
    ClusterView without = *view_;
    std::erase(without.members, self_);
    if (!without.members.empty()) {
      if (e.spec.source != registry::Source::kConfig) {
        had = cluster::ownerOf(id, without.members);
      } else {
        std::vector<std::string> candidates;
        for (const auto& [member, ids] : view_->sameConfig) {
          if (ids.count(id) != 0 && live(without, member)) {
            candidates.push_back(member);
          }
        }
        had = cluster::ownerOf(id, candidates);
      }
    }
  }
  if (had.empty() || had == self_) {
    setState(e, State::kOwned);
    target_.own(e.spec, e.firstCheck);
    return;
  }
  if (live(*view_, had)) {
    // It may still be checking it until its next heartbeat shows it the change.
    setState(e, State::kGrace);
    e.graceUntilMs = clock_.nowMs() + graceMs_;
    return;
  }
  setState(e, State::kReading);
  toRead_.push_back(id);
}

void Ownership::flush() {
  if (!toRead_.empty()) {
    startRead(std::move(toRead_));
    toRead_.clear();
  }
  armGrace();
}

void Ownership::setView(const ClusterView& view) {
  std::optional<ClusterView> previous = std::move(view_);
  view_ = view;
  if (std::find(view_->members.begin(), view_->members.end(), self_) == view_->members.end()) {
    // Not announced (yet): Redis answered a heartbeat that did not list this member. Keep what
    // we have rather than drop every server for a moment.
    view_ = std::move(previous);
    return;
  }
  for (auto& [id, e] : servers_) {
    place(id, e, previous ? &*previous : nullptr);
  }
  flush();
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
  place(spec.id, e, &*view_);
  if (wasOwned && e.state == State::kOwned) {
    target_.own(spec, firstCheck);  // new settings; the scheduler keeps its state
  }
  flush();
}

void Ownership::removeServer(const std::string& id) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    return;
  }
  if (it->second.state == State::kOwned) {
    target_.remove(id);
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
}

void Ownership::armGrace() {
  int64_t next = std::numeric_limits<int64_t>::max();
  for (const auto& [id, e] : servers_) {
    if (e.state == State::kGrace) {
      next = std::min(next, e.graceUntilMs);
    }
  }
  if (next == std::numeric_limits<int64_t>::max()) {
    graceTimer_->stop();
    return;
  }
  graceTimer_->start(std::max<int64_t>(0, next - clock_.nowMs()), [this] { graceOver(); });
}

void Ownership::graceOver() {
  const int64_t now = clock_.nowMs();
  std::vector<std::string> ids;
  for (auto& [id, e] : servers_) {
    if (e.state == State::kGrace && e.graceUntilMs <= now) {
      e.state = State::kReading;
      ids.push_back(id);
    }
  }
  if (!ids.empty()) {
    startRead(std::move(ids));
  }
  armGrace();
}

void Ownership::startRead(std::vector<std::string> ids) {
  const uint64_t read = ++reads_;
  for (const auto& id : ids) {
    servers_[id].read = read;
  }
  std::weak_ptr<bool> alive = alive_;
  target_.readPublished(std::move(ids),
                        [this, alive, read](const std::map<std::string, Published>& published) {
                          if (alive.lock()) {
                            onRead(read, published);
                          }
                        });
}

void Ownership::onRead(uint64_t read, const std::map<std::string, Published>& published) {
  size_t handedOver = 0;
  for (auto& [id, e] : servers_) {
    if (e.state != State::kReading || e.read != read) {
      continue;  // released, removed or read again since
    }
    setState(e, State::kOwned);
    auto p = published.find(id);
    std::optional<scheduler::LastCheck> last;
    Trigger trigger = e.firstCheck;
    if (p != published.end()) {
      last = p->second.last;
      if (!p->second.checkedBy.empty() && p->second.checkedBy != self_) {
        trigger = Trigger::kHandover;
        ++handedOver;
      }
    }
    target_.adopt(e.spec, trigger, last);
  }
  if (handedOver > 0) {
    log::info("cluster: took over " + std::to_string(handedOver) + " servers from other members");
  }
}

}  // namespace mcphd::cluster
