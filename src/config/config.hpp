#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "auth/key_ring.hpp"
#include "common/result.hpp"
#include "common/secret.hpp"
#include "common/units.hpp"
#include "http/egress.hpp"
#include "redis/redis_url.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::config {

struct RedisSettings {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string prefix = "mcp:";
  Secret password;       // from password_file; a password in the URL is used when this is empty
  std::string username;  // redis.username (an ACL user); empty: the URL's, else the default user
  // redis.sentinels and redis.master_name: Redis Sentinel; the URL then gives only the database,
  // user and password.
  std::vector<redis::HostPort> sentinels;
  std::string masterName;
};

// dashboard: the live page and its API (src/dashboard).
struct DashboardSettings {
  std::string listen;  // host:port; empty: off. May equal metrics.listen (one listener for both).
  Secret token;        // from token_file: the bearer token of POST /api/check; empty: read-only
  std::vector<std::string> allowedHosts;  // Host header values accepted besides `listen`
  size_t maxStreams = 64;                 // open /api/events streams at once
};

// cluster: several daemons on one Redis (docs/PROTOCOL.md).
struct ClusterSettings {
  bool enabled = false;        // cluster.enabled: announce this daemon in Redis
  std::string memberId;        // cluster.member_id; empty: <hostname>-<pid>, chosen at start
  int64_t heartbeatMs = 2000;  // cluster.heartbeat: how often the announcement is refreshed
  int64_t memberTtlMs = 6000;  // cluster.member_ttl: a member not heard of for this long is gone
  bool operator==(const ClusterSettings&) const = default;
};

struct Config {
  std::string path;
  RedisSettings redis;
  size_t maxConcurrentChecks = 256;
  size_t maxWatches = 1'000;          // max_watches: kept watch_tools sessions
  int64_t registryResyncMs = 60'000;  // full reload of the Redis registry
  auth::KeyRing keys;                 // secrets.keys / secrets.active; may be empty
  bool acceptV1 = false;              // secrets.accept_v1: v1 envelopes (not bound) are accepted
  registry::ServerSpec defaults;      // `defaults`, the base of servers registered in Redis
  http::EgressPolicy egress = http::EgressPolicy::defaults();
  // egress.registry: applies in addition, to servers registered in Redis only.
  std::optional<http::EgressPolicy> registryEgress;
  std::vector<registry::ServerSpec> servers;
  std::string metricsListen;  // metrics.listen: host:port of /metrics and /healthz; empty: off
  bool logJson = false;       // log.format: json
  DashboardSettings dashboard;
  ClusterSettings cluster;
};

// A member id as cluster.member_id takes it (also the default's characters): 1 to 128 of
// A-Z a-z 0-9 . _ - : @
bool validMemberId(std::string_view id);

// Loads and validates a config file. Errors name the file, the line and the key, e.g.
// "/etc/mcp-healthd/mcp-healthd.yaml:14: servers[0].timeout: must be shorter than interval (10s)".
Result<Config> loadFile(const std::string& path);
// The same from text; `name` stands for the file name in errors. Relative *_file paths resolve
// against `baseDir`.
Result<Config> loadString(const std::string& text, const std::string& name,
                          const std::string& baseDir = ".");

using mcphd::parseDuration;
using mcphd::parsePercent;
using mcphd::parseSize;
// Replaces ${NAME} with the environment variable NAME; "$$" is a literal "$".
Result<std::string> expandEnv(const std::string& s);

}  // namespace mcphd::config
