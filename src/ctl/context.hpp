#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/secret.hpp"
#include "config/config.hpp"
#include "keyspace/keyspace.hpp"
#include "redis/sync_client.hpp"

// mcp-healthctl's commands (src/ctl): each returns how the program ends, or a Failure that says
// what went wrong and what to do; only main() prints a failure and turns it into an exit status.
namespace mcphd::ctl {

// The exit statuses of mcp-healthctl (documented in its --help).
enum class Exit : int {
  kOk = 0,        // done; for a check, the server is healthy
  kFailed = 1,    // unhealthy, no answer in time, Redis or a record refused
  kUsage = 2,     // bad arguments or config: nothing was written
  kSoftware = 70  // an internal error (EX_SOFTWARE)
};

struct Failure {
  Exit exit = Exit::kFailed;
  std::string message;
};
inline Failure usageError(std::string message) { return {Exit::kUsage, std::move(message)}; }
inline Failure failure(std::string message) { return {Exit::kFailed, std::move(message)}; }

template <typename T>
using Outcome = Result<T, Failure>;

// What every command may use: the daemon's config when --config was given, where Redis is and
// the names of its keys.
struct Context {
  std::optional<config::Config> cfg;
  std::string redisUrl = "redis://127.0.0.1:6379/0";
  std::string redisUsername;
  Secret redisPassword;
  // redis.sentinels / redis.master_name of --config (not used with --redis).
  std::vector<redis::HostPort> sentinels;
  std::string masterName;
  keyspace::Keyspace keys;

  // The base of a server's settings that its record leaves out: the config's defaults.
  registry::ServerSpec defaults() const { return cfg ? cfg->defaults : registry::ServerSpec{}; }
  // The daemon's keys, or a failure naming what needs them ("credentials need ...").
  Outcome<const auth::KeyRing*> keyRing(const std::string& what) const;
  // A blocking connection to Redis (5 s to connect).
  Outcome<redis::SyncClient> connect() const;
};

// The context from the global options: --config FILE (Redis, prefix, keys, defaults) and
// --redis URL (overrides the config's URL).
Outcome<Context> loadContext(const std::optional<std::string>& configPath,
                             const std::optional<std::string>& redisUrl);

// Runs a command; a failure (also a Redis error reply) says "Redis: ...".
Outcome<redis::Reply> query(redis::SyncClient& c, const std::vector<std::string>& argv);

}  // namespace mcphd::ctl
