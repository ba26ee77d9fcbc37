#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "auth/key_ring.hpp"
#include "keyspace/keyspace.hpp"
#include "loop/timer.hpp"
#include "redis/commands.hpp"
#include "registry/record.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::registry {

// Servers registered in Redis: set <prefix>servers holds the ids, hash <prefix>server:<id> each
// record. Loaded in full whenever the connection becomes ready and every `resyncMs`, so a record
// written without a command is still picked up; single records reload on demand (upsert
// commands). Announces additions, changes and removals to its listener, next to the config's
// servers: an id the config already uses is refused with a logged error.
class RedisRegistry {
 public:
  RedisRegistry(redis::Commands& redis, loop::TimerFactory& timers, keyspace::Keyspace keyspace,
                ServerSpec defaults, const auth::KeyRing& keys, std::set<std::string> configIds,
                ServerListener& listener, int64_t resyncMs, RecordOptions options = {});

  void start();
  // A config reload: new defaults for Redis servers, and the ids the config file now defines
  // (refused from Redis). Ids that move to the config file are dropped without a removal (the
  // config's server replaces them); every record is read again on the new defaults.
  void reconfigure(ServerSpec defaults, std::set<std::string> configIds);
  // secrets.accept_v1 and the like; applied from the next read of each record.
  void setRecordOptions(RecordOptions options) { options_ = options; }
  // True once every record has been read once (commands wait for it: a `check` of a registered
  // server must not be answered "unknown server" because the registry was not read yet).
  bool loaded() const { return loadedOnce_; }
  // `listener` runs once, when the first full read of the registry has finished (at once when it
  // already has).
  void onLoaded(std::function<void()> listener);

  // Reads one record again and announces the outcome. `done` gets true when the server is now
  // registered (and enabled), false when it is not, or an error (Redis unavailable, id refused).
  void reload(const std::string& id, std::function<void(Result<bool>)> done);
  // Forgets a server, telling the listener when `announce`; false when the id is not a
  // Redis-registered server.
  bool forget(const std::string& id, bool announce = true);
  // Deletes a server's record and its id from Redis (a `remove` command) and forgets it without
  // telling the listener (the caller removes it from the scheduler, answering the command).
  void remove(const std::string& id);

  bool has(const std::string& id) const { return known_.count(id) != 0; }

  // Stores new credentials (a rotated refresh token) in the server's record, sealed with the
  // active key and bound to the record's fields as last read. Compare-and-set: written only while
  // the record still holds the blob the daemon read, so a newer blob (a fresh login, an edit) is
  // never overwritten; retried (1 s doubling to 30 s, across reconnects) until Redis answers. A
  // newer call for the same server replaces a write still pending.
  // `readFrom` is the blob the rotated token's spec was built from: when the record has moved on
  // since (a login, an edit), nothing is written.
  void storeCredentials(const std::string& id, const std::string& readFrom,
                        auth::Credentials credentials);
  size_t size() const { return known_.size(); }

 private:
  void sync();
  // Before the first full read: read again a second after one that failed midway.
  void retryFirstLoad();
  void apply(const std::string& id, const RecordFields& fields);
  bool refuse(const std::string& id);
  static RecordFields toFields(const redis::Reply& reply);
  void applyUnreadable(const std::string& id, const std::string& why);
  void markLoaded();
  // The trigger of a new server's first check: startup until the first full read is done (the
  // daemon's first look at the registry), resync after (it appeared without a command).
  Trigger firstCheck() const { return loadedOnce_ ? Trigger::kResync : Trigger::kStartup; }
  void writeCredentials(const std::string& id);

  struct PendingWrite {
    std::string expected;  // the blob the record held when the daemon read it
    std::string blob;      // the new one
    std::unique_ptr<loop::Timer> retry;
    int64_t backoffMs = 1'000;
  };

  redis::Commands& redis_;
  std::unique_ptr<loop::Timer> timer_;
  keyspace::Keyspace keyspace_;
  ServerSpec defaults_;
  const auth::KeyRing& keys_;
  std::set<std::string> configIds_;
  ServerListener& listener_;
  int64_t resyncMs_;
  uint64_t syncGeneration_ = 0;
  std::map<std::string, ServerSpec> known_;  // announced Redis servers
  std::set<std::string> warned_;             // ids already reported as refused
  std::set<std::string> warnedV1_;           // ids already warned about a v1 envelope
  // The fields of records whose credentials may be rotated (a refresh token): what a write-back
  // is bound to and compared with.
  std::map<std::string, RecordFields> rotatable_;
  std::map<std::string, PendingWrite> writes_;
  // Per server, the blobs our own write-backs replaced (the last 16) and the one we wrote last:
  // a second rotation before the record is read again comes from a spec of a replaced blob.
  struct OwnWrites {
    std::vector<std::string> replaced;
    std::string written;
  };
  std::map<std::string, OwnWrites> ownWrites_;
  loop::TimerFactory& timers_;
  RecordOptions options_;
  std::vector<std::function<void()>> loadedListeners_;
  bool loadedOnce_ = false;  // the first full read is done
};

}  // namespace mcphd::registry
