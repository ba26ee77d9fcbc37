#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/membership.hpp"
#include "common/clock.hpp"
#include "common/trigger.hpp"
#include "loop/timer.hpp"
#include "registry/server_spec.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::cluster {

// What the published state says of a server a member takes over.
struct Published {
  scheduler::LastCheck last;
  std::string checkedBy;  // the member that published it
};

// What ownership drives: in the daemon the scheduler, and the read of <prefix>status.
class OwnedServers {
 public:
  virtual ~OwnedServers() = default;
  // A server this member checks from the start, or whose settings changed
  // (Scheduler::upsertServer).
  virtual void own(const registry::ServerSpec& spec, Trigger firstCheck) = 0;
  // A server taken over from another member (Scheduler::adoptServer).
  virtual void adopt(const registry::ServerSpec& spec, Trigger trigger,
                     const std::optional<scheduler::LastCheck>& last) = 0;
  virtual void release(const std::string& id) = 0;  // Scheduler::releaseServer
  virtual void remove(const std::string& id) = 0;   // Scheduler::removeServer
  // Reads the published state of `ids`; `done` gets it (a server missing from it was never
  // published), or nullopt when it could not be read (Redis away: asked again later).
  virtual void readPublished(
      std::vector<std::string> ids,
      std::function<void(std::optional<std::map<std::string, Published>>)> done) = 0;
  // A server this member does not check left every source (nothing to do in the scheduler).
  virtual void forget(const std::string& id) = 0;
};

// Which member checks which server (docs/PROTOCOL.md, "Several daemons"): rendezvous hashing of
// the server id over the members that can check it — every live member for a server registered
// in Redis; for a config-file server, this member and those that declare it with the same
// settings. Sits between the server sources (config, registry) and the scheduler: the scheduler
// only ever holds the servers this member owns.
//
// A server this member gains (at start-up, when members change, or when it is registered) is
// taken over by its published state: its <prefix>status field is read; when another member that
// is still live published it, this member first waits `graceMs` (1.5 heartbeats: that member
// sees the change at its next one and stops) plus the server's timeout (a check it had under way
// ends and publishes) and reads it again. Its first check is then due by that last published
// check, so a hand-over checks nothing twice. Before the first view nothing is checked.
class Ownership final : public registry::ServerListener {
 public:
  Ownership(OwnedServers& target, Clock& clock, loop::TimerFactory& timers, std::string self,
            int64_t graceMs);
  Ownership(const Ownership&) = delete;
  Ownership& operator=(const Ownership&) = delete;

  void upsertServer(const registry::ServerSpec& spec, Trigger firstCheck) override;
  void removeServer(const std::string& id) override;
  // Forgets a server without telling the scheduler (a `remove` command removed it there).
  void forget(const std::string& id);
  // Membership changed (Membership::onChange).
  void setView(const ClusterView& view);

  // The member that checks `id` as far as this one knows: empty for an unknown server, or before
  // the first view.
  std::string ownerOf(const std::string& id) const;
  bool owns(const std::string& id) const { return ownerOf(id) == self_; }
  // The live members as of the last view (sorted; empty before the first).
  std::vector<std::string> members() const {
    return view_ ? view_->members : std::vector<std::string>{};
  }
  // Servers known (from every source), and owned by this member.
  size_t known() const { return servers_.size(); }
  size_t owned() const { return owned_; }
  // Servers this member is taking over (read, or waiting out the grace): not yet in the
  // scheduler, so a `check *` part waits for them (CommandStream).
  size_t gaining() const { return gaining_; }

 private:
  enum class State {
    kElsewhere,  // another member's (or nobody's yet)
    kReading,    // ours, its published state being read
    kGrace,      // ours, waiting for the live member that published it to stop
    kOwned,      // ours, in the scheduler
  };
  struct Entry {
    registry::ServerSpec spec;
    Trigger firstCheck = Trigger::kStartup;
    State state = State::kElsewhere;
    std::string owner;  // as last computed ("" before the first view)
    int64_t graceUntilMs = 0;
    bool graced = false;  // waited once since it was gained
    uint64_t read = 0;    // the read that will adopt it (kReading)
  };

  std::string computeOwner(const Entry& e) const;
  // Recomputes the owner of `e`; a server gained is read (in the next batch).
  void place(const std::string& id, Entry& e);
  void setState(Entry& e, State s);
  void read(const std::string& id, Entry& e);
  void armGrace(int64_t untilMs);
  void graceOver();
  void startRead();
  void onRead(uint64_t read, const std::optional<std::map<std::string, Published>>& published);

  OwnedServers& target_;
  Clock& clock_;
  std::string self_;
  int64_t graceMs_;
  std::unique_ptr<loop::Timer> graceTimer_;
  int64_t graceDueMs_ = 0;                  // when graceTimer_ fires
  std::unique_ptr<loop::Timer> readTimer_;  // one read per batch of servers gained
  std::optional<ClusterView> view_;
  std::map<std::string, Entry> servers_;
  size_t owned_ = 0;    // entries in kGrace, kReading or kOwned
  size_t gaining_ = 0;  // entries in kGrace or kReading
  uint64_t reads_ = 0;
  std::vector<std::string> toRead_;                             // the next batch
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for reads that outlive us
};

}  // namespace mcphd::cluster
