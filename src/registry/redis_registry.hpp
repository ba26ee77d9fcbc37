#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "auth/key_ring.hpp"
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
  RedisRegistry(redis::Commands& redis, loop::TimerFactory& timers, std::string prefix,
                ServerSpec defaults, const auth::KeyRing& keys, std::set<std::string> configIds,
                ServerListener& listener, int64_t resyncMs);

  void start();
  // A config reload: new defaults for Redis servers, and the ids the config file now defines
  // (refused from Redis). Ids that move to the config file are dropped without a removal (the
  // config's server replaces them); every record is read again on the new defaults.
  void reconfigure(ServerSpec defaults, std::set<std::string> configIds);

  // Reads one record again and announces the outcome. `done` gets true when the server is now
  // registered (and enabled), false when it is not, or an error (Redis unavailable, id refused).
  void reload(const std::string& id, std::function<void(Result<bool>)> done);
  // Forgets a server, telling the listener when `announce`; false when the id is not a
  // Redis-registered server.
  bool forget(const std::string& id, bool announce = true);

  bool has(const std::string& id) const { return known_.count(id) != 0; }

  // Stores new credentials (a rotated refresh token) in the server's record, encrypted with the
  // active key. The next read of the record picks them up like any other change.
  void storeCredentials(const std::string& id, const std::string& plaintextJson);
  size_t size() const { return known_.size(); }

 private:
  void sync();
  void apply(const std::string& id, const RecordFields& fields);
  bool refuse(const std::string& id);
  static RecordFields toFields(const redis::Reply& reply);

  redis::Commands& redis_;
  std::unique_ptr<loop::Timer> timer_;
  std::string prefix_;
  ServerSpec defaults_;
  const auth::KeyRing& keys_;
  std::set<std::string> configIds_;
  ServerListener& listener_;
  int64_t resyncMs_;
  uint64_t syncGeneration_ = 0;
  std::map<std::string, ServerSpec> known_;  // announced Redis servers
  std::set<std::string> warned_;             // ids already reported as refused
  bool loadedOnce_ = false;  // after the first full load, new servers are checked at once
};

}  // namespace mcphd::registry
