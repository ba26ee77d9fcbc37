#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/ownership.hpp"
#include "common/clock.hpp"
#include "keyspace/keyspace.hpp"
#include "loop/timer.hpp"
#include "publish/state_publisher.hpp"
#include "redis/commands.hpp"
#include "redis/script.hpp"
#include "redis/subscriber.hpp"
#include "registry/redis_registry.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::control {

// The command stream <prefix>commands (docs/PROTOCOL.md): read with XREADGROUP in consumer group
// "mcp-healthd" on a connection of its own (the read blocks), carried out, and acknowledged (XACK)
// by the script that publishes the message answering it, which names the command only when that
// acknowledgement is the first: answered exactly once, also when an entry of a member that died
// is claimed and carried out again. Entries this consumer or a dead one left
// pending are taken up again at start (own pending entries, then XAUTOCLAIM), so no command is
// lost when the daemon dies. Nothing is read before the registry has been read once, so a command
// naming a server registered in Redis always finds it.
//
// In a cluster (setCluster) a member also reads its own stream <prefix>member-commands:<id>,
// where the others forward the commands naming servers it owns; `check *` is split into one part
// per member; upsert and remove are announced on <prefix>control so every member reads the
// record at once; and the entries of a member that left are taken over by one survivor.
class CommandStream {
 public:
  struct Options {
    keyspace::Keyspace keys;
    std::string group = keyspace::Keyspace::kCommandGroup;
    std::string consumer;           // stable per host, so a restart finds its own pending entries
    int64_t blockMs = 1000;         // XREADGROUP BLOCK
    int64_t claimIdleMs = 60'000;   // XAUTOCLAIM entries idle this long (their consumer is gone)
    size_t maxInProgress = 10'000;  // stop reading while this many commands are unanswered
  };

  // `writer` claims entries; every answer goes out through `answers` (on that same connection),
  // whose scripts acknowledge the entries they answer in the step that publishes.
  CommandStream(redis::Commands& reader, redis::Commands& writer, loop::TimerFactory& timers,
                registry::RedisRegistry& registry, scheduler::Scheduler& scheduler,
                publish::StatePublisher& answers, Options options);

  // Cluster mode, before start(): `memberId` is this member (its consumer name is
  // "mcp-healthd@<memberId>"), `ownership` says who owns what, `control` is a connection of its
  // own for the control channel.
  void setCluster(cluster::Ownership& ownership, std::string memberId, redis::Subscriber& control,
                  const Clock& clock);
  // Members that left (Membership): the one survivor that rendezvous hashing picks among the live
  // members takes over their pending and forwarded commands.
  void membersLeft(const std::vector<std::string>& gone, const std::vector<std::string>& live);

  void start();
  // The message answering `commandId` (and acknowledging its entry) was sent
  // (StatePublisher::onAnswered).
  void answered(const std::string& commandId);
  // A `check *` (or a part of one) every server has answered: command_done is published (or the
  // part counted), the entry acknowledged.
  void broadcastDone(const std::string& commandId, size_t servers);

  size_t inProgress() const { return inProgress_.size(); }
  // `op baseline`: the baseline of `serverId` may have changed (ApprovingProber::reread), just
  // before the check that answers it.
  void onBaselineChanged(std::function<void(const std::string& serverId)> listener) {
    baselineChanged_ = std::move(listener);
  }
  // Commands read, by op ("check", "upsert", "remove", "baseline", or "invalid").
  const std::map<std::string, uint64_t>& commandCounts() const { return counts_; }
  // Commands passed to the member that owns their server.
  uint64_t forwarded() const { return forwarded_; }

 private:
  using Fields = std::map<std::string, std::string>;
  // Where an entry is, to acknowledge it.
  struct Ref {
    std::string stream;
    std::string entry;
    bool part = false;  // a part of a split `check *`
  };
  struct Entry {
    Ref ref;
    Fields fields;
    std::string commandId;  // the entry id in the command stream (`origin` once forwarded)
  };

  void onReaderReady(bool ready);
  void afterRegistryRead(uint64_t gen);
  void init(uint64_t gen);
  void createGroup(uint64_t gen, const std::string& stream, std::function<void()> next);
  void readPending(uint64_t gen, const std::string& stream, std::string from,
                   std::function<void()> next);
  // XAUTOCLAIM from `from`. `thenRead`: this is the set-up after a (re)connect, which starts
  // the XREADGROUP loop once claiming is done; the periodic claims leave that loop alone.
  void claim(uint64_t gen, std::string from, bool thenRead);
  // XAUTOCLAIM in this member's own stream (cluster mode), one page per claim round.
  void claimOwn(uint64_t gen);
  void readNew(uint64_t gen);
  // False (after logging and scheduling a fresh start on a Redis error) when a reader reply is
  // stale, lost with the connection, or an error.
  bool usable(uint64_t gen, const Result<redis::Reply>& r, const char* what);
  void handleReply(const redis::Reply& streams);
  void handleEntries(const std::string& stream, const redis::Reply& entries);
  void execute(Entry entry);
  void route(Entry entry, const std::string& op, const std::string& server);
  void runLocally(Entry entry, const std::string& op, const std::string& server);
  void runBroadcast(Entry entry);
  void forward(Entry entry, const std::vector<std::string>& candidates, bool declared);
  // A command naming a server this member is taking over: routed again in 250 ms.
  void defer(Entry entry, const std::string& op, const std::string& server);
  // Holds `entry` for another try in 250 ms (retryDeferred), unless it was held `attempts` times
  // already: false then, and `entry` is left to the caller.
  bool hold(Entry& entry, int attempts);
  void retryDeferred();
  void split(Entry entry);
  void fail(const Entry& entry, const std::string& op, const std::string& serverId,
            const std::string& message);
  // Acknowledges an entry that needs no answer (deleted from the stream before it was read).
  void ack(const Ref& ref);
  publish::CommandEntry entryOf(const Ref& ref) const;
  void finish(const Ref& ref);  // no longer being carried out here
  // Takes one entry of command `id` off the books (its oldest, or the one just added).
  std::optional<Ref> takeRef(const std::string& id, bool newest);
  void announce(const std::string& op, const std::string& serverId);
  void onControl(const std::string& payload);
  void takeOver(const std::string& member);
  void claimFrom(const std::string& stream, const std::string& consumer,
                 std::function<void()> next);
  void readRest(const std::string& stream, std::function<void()> done);
  void sweep();
  std::string consumerOf(const std::string& member) const { return "mcp-healthd@" + member; }
  bool clustered() const { return ownership_ != nullptr; }

  redis::Commands& reader_;
  redis::Commands& writer_;
  registry::RedisRegistry& registry_;
  scheduler::Scheduler& scheduler_;
  publish::StatePublisher& answers_;
  Options options_;
  std::string stream_;
  std::unique_ptr<loop::Timer> retry_;
  std::unique_ptr<loop::Timer> claimTimer_;
  std::unique_ptr<loop::Timer> deferTimer_;
  uint64_t generation_ = 0;
  std::map<std::string, size_t> inProgress_;     // command id -> answers still to come
  std::map<std::string, std::deque<Ref>> refs_;  // command id -> its entries, oldest first
  std::set<std::string> active_;                 // "<stream> <entry>" being carried out here
  std::map<std::string, uint64_t> counts_;
  std::function<void(const std::string&)> baselineChanged_;
  uint64_t forwarded_ = 0;
  // Cluster mode.
  cluster::Ownership* ownership_ = nullptr;
  redis::Subscriber* control_ = nullptr;
  const Clock* clock_ = nullptr;
  std::string memberId_;
  std::string own_;  // this member's stream
  redis::Script forward_;
  redis::Script split_;
  redis::Script partDone_;
  std::vector<Entry> deferred_;           // commands waiting for a take-over
  std::map<std::string, int> deferrals_;  // how often each waited
  std::set<std::string> takingOver_;
};

}  // namespace mcphd::control
