#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
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

// Who is live, and who can check which of this member's config-file servers.
struct ClusterView {
  std::vector<std::string> members;  // sorted, this one included
  // Other live members that declare exactly this member's config-file servers, each with the
  // same settings (their config digests are equal).
  std::set<std::string> sameWhole;
  // Per other live member whose config differs, the config-file servers of this one that it
  // declares with the same settings (registry::settingsDigest); absent: none of them.
  std::map<std::string, std::set<std::string>> sameConfig;
  bool operator==(const ClusterView&) const = default;
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
  const std::vector<std::string>& members() const { return view_.members; }
  const ClusterView& view() const { return view_; }
  // Runs when the view changed: the live members, or which of them declare which config-file
  // servers as this one does.
  void onChange(std::function<void(const ClusterView&)> listener) {
    changed_ = std::move(listener);
  }
  // This member's config-file servers: id -> settings digest. Written to
  // <prefix>member-config:<id> before the heartbeat that announces their summary; again after
  // every reconnect and whenever Redis lost it.
  void setConfig(std::map<std::string, std::string> digests);
  // Asked at every heartbeat: how many servers this member checks (announced).
  void setOwned(std::function<size_t()> owned) { owned_ = std::move(owned); }
  const std::string& memberId() const { return options_.memberId; }

 private:
  void beat();
  void onBeat(const Result<redis::Reply>& reply);
  void failed(const std::string& why);
  void writeConfig();
  // Reads which of our config servers `member` declares as we do (its summary changed).
  void fetchConfig(const std::string& member, const std::string& summary);
  void updateView();

  struct Peer {
    std::string summary;         // as announced
    std::string fetchedSummary;  // the summary `same` was read for
    std::set<std::string> same;  // our config servers it declares with the same settings
    bool fetching = false;
  };

  redis::Commands& redis_;
  keyspace::Keyspace keys_;
  MembershipOptions options_;
  redis::Script script_;
  redis::Script configScript_;
  std::unique_ptr<loop::Timer> timer_;
  ClusterView view_;
  std::vector<std::string> live_;  // as of the last heartbeat
  std::map<std::string, Peer> peers_;
  std::map<std::string, std::string> config_;  // our config servers: id -> digest
  std::string summary_;                        // their digest ("" when none)
  bool configWritten_ = false;                 // on this connection
  std::function<void(const ClusterView&)> changed_;
  std::function<size_t()> owned_;
  uint64_t generation_ = 0;  // of the connection; a beat answered on an old one is ignored
  bool inFlight_ = false;
  bool leaving_ = false;
  uint64_t failures_ = 0;   // logged at the first and every 100th
  size_t invalidSeen_ = 0;  // invalid member ids in the last answer (logged when it changes)
};

// The heartbeat script (KEYS: <prefix>members, <prefix>member:<id>, <prefix>member-config:<id>;
// ARGV: id, member_ttl ms, owned, started_at ms, version, max members, config summary ("" for
// none), <prefix>member:). Answers {now ms, {live member ids}, {their config summaries}, 1 when
// the summary was announced or 0 when its hash was missing (not announced: written again)}.
const std::string& heartbeatScript();
// KEYS: <prefix>member-config:<id>; ARGV: member_ttl ms, then server id, digest, ...
const std::string& memberConfigScript();
// The summary announced for a member's config servers: SHA-256 hex over the sorted
// "<id>\n<digest>\n" lines; "" when there are none.
std::string configSummary(const std::map<std::string, std::string>& digests);

}  // namespace mcphd::cluster
