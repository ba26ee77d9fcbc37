#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/ownership.hpp"
#include "keyspace/keyspace.hpp"
#include "loop/timer.hpp"
#include "publish/state_publisher.hpp"
#include "redis/commands.hpp"
#include "registry/redis_registry.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::control {

// The command stream <prefix>commands (docs/PROTOCOL.md): read with XREADGROUP in consumer group
// "mcp-healthd" on a connection of its own (the read blocks), carried out, and acknowledged (XACK)
// once the message answering it has been published. Entries this consumer or a dead one left
// pending are taken up again at start (own pending entries, then XAUTOCLAIM), so no command is
// lost when the daemon dies. Nothing is read before the registry has been read once, so a command
// naming a server registered in Redis always finds it.
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

  // `writer` claims and acknowledges entries; answers that no check result gives (command_error,
  // command_done) go out through `answers`, on that same connection, before the acknowledgement.
  CommandStream(redis::Commands& reader, redis::Commands& writer, loop::TimerFactory& timers,
                registry::RedisRegistry& registry, scheduler::Scheduler& scheduler,
                publish::StatePublisher& answers, Options options);

  void start();
  // With a cluster: servers another member owns are not in this member's scheduler. Until
  // commands are forwarded to their owners (issue 13, §4), a command naming one is answered
  // with a command_error that names the owner, and `check *` checks this member's servers.
  void setOwnership(cluster::Ownership* ownership, std::string memberId) {
    ownership_ = ownership;
    memberId_ = std::move(memberId);
  }
  // The message answering `commandId` was published (StatePublisher::onAnswered).
  void answered(const std::string& commandId);
  // A `check *` every server has answered: command_done is published, the entry acknowledged.
  void broadcastDone(const std::string& commandId, size_t servers);

  size_t inProgress() const { return inProgress_.size(); }
  // Commands read, by op ("check", "upsert", "remove", or "invalid").
  const std::map<std::string, uint64_t>& commandCounts() const { return counts_; }

 private:
  using Fields = std::map<std::string, std::string>;
  void onReaderReady(bool ready);
  void afterRegistryRead(uint64_t gen);
  void init(uint64_t gen);
  void readPending(uint64_t gen, std::string from);
  // XAUTOCLAIM from `from`. `thenRead`: this is the set-up after a (re)connect, which starts
  // the XREADGROUP loop once claiming is done; the periodic claims leave that loop alone.
  void claim(uint64_t gen, std::string from, bool thenRead);
  void readNew(uint64_t gen);
  // False (after logging and scheduling a fresh start on a Redis error) when a reader reply is
  // stale, lost with the connection, or an error.
  bool usable(uint64_t gen, const Result<redis::Reply>& r, const char* what);
  void handleEntries(const redis::Reply& entries);
  void execute(const std::string& id, const Fields& fields);
  void fail(const std::string& id, const std::string& op, const std::string& serverId,
            const std::string& message);
  void ack(const std::string& id);
  // With a cluster, why a server not in the scheduler cannot be acted on here (empty: unknown).
  std::string elsewhere(const std::string& serverId) const;

  redis::Commands& reader_;
  redis::Commands& writer_;
  registry::RedisRegistry& registry_;
  scheduler::Scheduler& scheduler_;
  publish::StatePublisher& answers_;
  cluster::Ownership* ownership_ = nullptr;
  std::string memberId_;
  Options options_;
  std::string stream_;
  std::unique_ptr<loop::Timer> retry_;
  std::unique_ptr<loop::Timer> claimTimer_;
  uint64_t generation_ = 0;
  std::map<std::string, size_t> inProgress_;
  std::map<std::string, uint64_t> counts_;  // command id -> answers still to come
};

}  // namespace mcphd::control
