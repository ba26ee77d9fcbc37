#pragma once

#include <simdjson.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "keyspace/keyspace.hpp"
#include "publish/messages.hpp"
#include "redis/commands.hpp"
#include "redis/script.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::publish {

// Writes every check result to Redis, each with one run of the publish script (write_scripts):
// Redis numbers it, stores <prefix>status (and on a tool set change <prefix>tools:<id>) and
// publishes <prefix>health (and <prefix>tools) in one step; and the answers to commands that no
// check result gives (command_error, command_done). While Redis is away results are coalesced
// per server (latest wins, nothing grows with the outage), and so they are while Redis reads
// slower than results come (more than kCongestedBytes unwritten); when it is back, every
// server's latest state is written again unless Redis holds a newer one (the refill script),
// and lost tool snapshots are rewritten on the next check.
// What a stored health message (<prefix>status) says of a server's last check.
struct StoredCheck {
  scheduler::LastCheck last;
  std::string checkedBy;  // empty when absent
  std::string toolsHash;  // empty when absent (null: the tools were not listed)
  // tools_approval said "approved" or "drifted": the server's tool set had a baseline.
  bool hadBaseline = false;
  bool drifted = false;  // ... and it said "drifted"
};
// A stored health message read back; nullopt when it is not one (a field anyone else wrote).
std::optional<StoredCheck> parseStoredCheck(simdjson::dom::parser& parser, std::string_view json);

// Where a command waits to be acknowledged: the entry of the command stream (or of a member's
// stream) that the message answering it acknowledges, in the script that publishes it.
struct CommandEntry {
  std::string stream;
  std::string group;
  std::string entry;
  bool remove = false;  // deleted once acknowledged (a member's stream keeps only the unanswered)
};

class StatePublisher final : public scheduler::ResultSink {
 public:
  // `memberId` is the daemon's name in every health message (`checked_by`).
  StatePublisher(redis::Commands& redis, const Clock& clock, keyspace::Keyspace keys,
                 std::string memberId);

  void onReport(const scheduler::CheckReport& report) override;
  void onRemoved(const std::string& serverId, const scheduler::Answers& answers) override;
  // Where `check *` commands are counted: each published message answers its range there (after
  // its PUBLISH), and names at most kMaxBroadcastIds of them.
  void setBroadcasts(scheduler::BroadcastLog& log) { broadcasts_ = &log; }
  static constexpr size_t kMaxBroadcastIds = 16;

  // Where each command a message answers waits (the command stream's entry; nullopt: none, and
  // the message names it as it is). The script that publishes the message acknowledges the
  // entry, and names the command only if that acknowledgement is the first.
  // `nth`: which of the message's occurrences of that id (0 for the first): each is one entry.
  using EntryLookup =
      std::function<std::optional<CommandEntry>(const std::string& commandId, size_t nth)>;
  void entryOf(EntryLookup lookup) { entryOf_ = std::move(lookup); }
  // Runs for each command id once the message answering it (and acknowledging its entry) has
  // been handed to Redis.
  void onAnswered(std::function<void(const std::string& commandId)> callback) {
    answered_ = std::move(callback);
  }

  // The answers to commands that no check result gives: a refused command (command_error) and
  // the end of a `check *` (command_done). Written at once, on this connection, by the script
  // that acknowledges `entry`: published only if that acknowledgement is the first. False when
  // the connection is down (the entry stays pending, and is read again after the reconnect).
  bool publishCommandError(const std::string& commandId, const std::string& op,
                           const std::string& serverId, const std::string& message,
                           const CommandEntry& entry);
  bool publishCommandDone(const std::string& commandId, const std::string& op, size_t servers,
                          const CommandEntry& entry);

  // Runs once, with what <prefix>status said of each server when it was first read (nullopt when
  // that read failed): the start-up snapshot the scheduler's first checks are due by.
  // A stored health message read back (the start-up snapshot, a take-over) says the server's
  // tool set had a baseline (StoredCheck::hadBaseline): called before the server's first check.
  void onBaselineSeen(std::function<void(const std::string& id, bool drifted)> listener) {
    baselineSeen_ = std::move(listener);
  }
  void onSnapshot(std::function<void(std::optional<scheduler::Snapshot>)> callback) {
    snapshot_ = std::move(callback);
  }

  // Runs after every (re)connect once Redis has applied the refill of the status hash: from
  // then on a reader of the hash sees every server of this daemon again (a dashboard that read
  // it just after a Redis restart may have missed some).
  void onRefilled(std::function<void()> callback) { refilled_ = std::move(callback); }
  // Redis came back without its data (a restart without persistence): it has a new run_id, and
  // <prefix>epoch holds another token than at the last connection. Called before anything is
  // written on the new connection.
  void onDataLost(std::function<void()> callback) { dataLost_ = std::move(callback); }
  // Signs each tool snapshot: the MAC of (server id, tools_hash), "" for none (no keys).
  using SnapshotSigner = std::function<std::string(const std::string& id, const std::string& hash)>;
  void setSnapshotSigner(SnapshotSigner signer) { snapshotSigner_ = std::move(signer); }

  uint64_t published() const { return published_; }

  // Cluster ownership. Reads the stored state of `ids` (HMGET <prefix>status) for servers this
  // member takes over; `done` gets it (a server never published is missing), or nullopt when
  // it could not be read (not connected, an error).
  void readStored(const std::vector<std::string>& ids,
                  std::function<void(std::optional<std::map<std::string, StoredCheck>>)> done);
  // Another member checks the server now: after what is pending for it is written, this member
  // forgets it, and never writes its state again after a reconnect (the refill). `own` undoes it.
  void release(const std::string& id);
  // This member checks the server now. Taken over from another member (readStored read its
  // state first): the tool set stored then is the one published, so an unchanged tool set is
  // not announced again with the first check here.
  void own(const std::string& id);
  // A server that is released (or was never checked here) left every source.
  void forget(const std::string& id) {
    released_.erase(id);
    storedTools_.erase(id);  // (at most one entry per server known: bounded anyway)
  }

  // Unwritten bytes on the Redis connection above which results wait, coalesced per server, and
  // below which they flow again.
  static constexpr size_t kCongestedBytes = 4 << 20;
  static constexpr size_t kResumeBytes = 1 << 20;

 private:
  struct PendingTools {
    std::string hash;
    int64_t discoveredAtWallMs = 0;
    std::vector<mcp::Tool> tools;
    std::shared_ptr<const baseline::Verdict> verdict;  // its findings go in the snapshot
  };
  struct ServerState {
    uint64_t seq = 0;  // the highest this daemon knows of (stored, or given by Redis)
    std::optional<HealthParts> pendingHealth;  // not yet written
    scheduler::Answers pendingAnswers;         // answered by the pending health message
    Numbered latest;                           // last written, for refills after a reconnect
    uint64_t latestSeq = 0;                    // its seq once Redis said it (0: not yet)
    // Where the command ids go in latest.tail: until Redis says which the message names, it is
    // kept without any.
    size_t idsAt = 0;
    uint64_t write = 0;  // which write `latest` is
    // The write awaiting its reply (0: none). One at a time per server: a later result waits,
    // coalesced, so that Redis applies one server's writes in order also when one is sent again
    // (NOSCRIPT).
    uint64_t inFlight = 0;
    std::optional<PendingTools> pendingTools;
    // The drift message of a check that entered `drifted`: published with the next write (kept
    // through coalesced results: once per entering).
    std::optional<Numbered> pendingDrift;
    std::string publishedToolsHash;
    ToolHashes publishedTools;
    bool backlogged = false;  // in backlog_
  };
  struct PendingRemoval {
    uint64_t knownSeq;  // the highest seq known of the server when it was removed
    int64_t atWallMs;
    scheduler::Answers answers;
  };

  void onReady(bool ready);
  void onLoaded(uint64_t gen);
  // Reads Redis's run_id and <prefix>epoch (written first when absent), says whether Redis lost
  // its data since the last connection, then onLoaded().
  void checkEpoch(uint64_t gen);
  // Writes what waited for the connection; `gen` is the connection's.
  void resume(uint64_t gen);
  // Gives the scheduler its start-up snapshot from the status hash (null: it could not be read).
  void snapshotFrom(const redis::Reply* statusHash);
  void flush(const std::string& id, ServerState& s);
  void refill(const std::string& id, ServerState& s);
  // A script's reply to write `write` of server `id`: the seq Redis gave it (0: it wrote
  // nothing); the server's next write may go.
  void numbered(const std::string& id, uint64_t write, const Result<redis::Reply>& reply);
  // What a write script needs of the commands a message answers (see write_scripts.hpp).
  // Empty, and nothing allocated, for a message that answers only `check *`.
  struct AnswerArgs {
    std::vector<std::string> keys;     // per entry: its stream and its answered marker
    std::vector<std::string> entries;  // per entry: group, entry id, XDEL 1|0, the id as JSON
    std::vector<std::string> named;    // ids the message names as they are, as JSON strings
    size_t size() const { return keys.size() + entries.size() + named.size() + 2; }
    // After the message's own ARGV: the count of entries, the entries, the count of the rest.
    void appendArgv(std::vector<std::string>& args);
  };
  // Of the commands `answers` answers, then of `named` (the `check *` ids).
  AnswerArgs answerArgs(const scheduler::Answers& answers, std::vector<std::string> named);
  // The arguments of the publish and remove scripts (write_scripts.hpp) for `message` of server
  // `id`, known by its writer as `seq`: KEYS (`*numKeys` of them), then ARGV, with `room` left
  // for what the caller appends. One vector, sized once: a publish per check.
  std::vector<std::string> writeArgs(const std::string& id, uint64_t seq, Answering message,
                                     AnswerArgs answering, size_t room, size_t* numKeys) const;
  bool answerEntry(const CommandEntry& entry, std::string message, const std::string& what);
  // Logs what the scripts could not do when they answered (the last element of their reply).
  // `what` + `name` says whose (joined only when there is something to log: a reply per check).
  void answerErrors(const Result<redis::Reply>& reply, size_t at, std::string_view what,
                    std::string_view name);
  void writeFailed(const std::string& what, const std::string& error);
  void answer(scheduler::Answers& answers);
  // At most kMaxBroadcastIds of the `check *` ids of `answers`, as JSON strings, and how many
  // were left out.
  std::vector<std::string> broadcastIds(const scheduler::Answers& answers, size_t* truncated) const;
  void flushRemovals();
  void drainBacklog();

  redis::Commands& redis_;
  const Clock& clock_;
  keyspace::Keyspace keys_;
  std::string memberId_;
  redis::Script publish_;
  redis::Script remove_;
  redis::Script refill_;
  redis::Script answer_;
  std::function<void()> refilled_;
  std::function<void()> dataLost_;
  SnapshotSigner snapshotSigner_;
  std::string runId_;   // Redis's run_id at the last connection ("" unknown)
  std::string epoch_;   // ... and <prefix>epoch then
  bool ready_ = false;  // connected and scripts loaded
  uint64_t generation_ = 0;
  uint64_t published_ = 0;
  uint64_t writes_ = 0;  // numbers every write, for its reply to find it
  uint64_t writeFailures_ = 0;
  std::map<std::string, ServerState> servers_;
  std::map<std::string, PendingRemoval> removals_;  // removals that wait for Redis
  std::set<std::string> released_;                  // servers other members check now
  // tools_hash of the stored status of servers being taken over (readStored), until own().
  std::map<std::string, std::string> storedTools_;
  std::function<void(const std::string&, bool)> baselineSeen_;
  std::deque<std::string> backlog_;  // servers whose results wait for a congested connection
  std::function<void(const std::string&)> answered_;
  EntryLookup entryOf_;
  std::function<void(std::optional<scheduler::Snapshot>)> snapshot_;
  scheduler::BroadcastLog* broadcasts_ = nullptr;
};

}  // namespace mcphd::publish
