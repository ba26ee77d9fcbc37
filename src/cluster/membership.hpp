#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "keyspace/keyspace.hpp"
#include "loop/timer.hpp"
#include "redis/commands.hpp"
#include "redis/script.hpp"

namespace mcphd::cluster {

struct MembershipOptions {
  std::string memberId;
  int64_t heartbeatMs = 2000;
  int64_t memberTtlMs = 6000;
  int64_t startedAtWallMs = 0;
  std::string version;
  // Members read back at most: whoever can write Redis cannot make the daemon hold a million.
  size_t maxMembers = 1000;
};

// This daemon's announcement in Redis, and who else is there (docs/PROTOCOL.md, "Several
// daemons"). Every heartbeat one script, on Redis's clock: drops members whose announcement
// expired, announces this one until now + member_ttl (<prefix>members, <prefix>member:<id>), and
// answers the live members. No consensus of our own: a member is live while its announcement is.
class Membership {
 public:
  Membership(redis::Commands& redis, loop::TimerFactory& timers, keyspace::Keyspace keys,
             MembershipOptions options);
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Heartbeats from now on: at once when the connection is (or becomes) ready, then every
  // heartbeat.
  void start();
  // A clean stop: no more heartbeats, the announcement withdrawn at once (others need not wait
  // for member_ttl). `done` runs once Redis answered, or at once when it is not connected.
  void leave(std::function<void()> done);

  // The live members, sorted, this one included, as of the last heartbeat Redis answered; empty
  // before the first.
  const std::vector<std::string>& members() const { return members_; }
  // Runs when the set of live members changed.
  void onChange(std::function<void(const std::vector<std::string>&)> listener) {
    changed_ = std::move(listener);
  }
  // Asked at every heartbeat: how many servers this member checks (announced).
  void setOwned(std::function<size_t()> owned) { owned_ = std::move(owned); }
  const std::string& memberId() const { return options_.memberId; }

 private:
  void beat();
  void onBeat(const Result<redis::Reply>& reply);
  void failed(const std::string& why);

  redis::Commands& redis_;
  keyspace::Keyspace keys_;
  MembershipOptions options_;
  redis::Script script_;
  std::unique_ptr<loop::Timer> timer_;
  std::vector<std::string> members_;
  std::function<void(const std::vector<std::string>&)> changed_;
  std::function<size_t()> owned_;
  uint64_t generation_ = 0;  // of the connection; a beat answered on an old one is ignored
  bool inFlight_ = false;
  bool leaving_ = false;
  uint64_t failures_ = 0;   // logged at the first and every 100th
  size_t invalidSeen_ = 0;  // invalid member ids in the last answer (logged when it changes)
};

// The heartbeat script (KEYS: <prefix>members, <prefix>member:<id>; ARGV: id, member_ttl ms,
// owned, started_at ms, version, max members). Answers {now ms, {live member ids}}.
const std::string& heartbeatScript();

}  // namespace mcphd::cluster
