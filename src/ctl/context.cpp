#include "ctl/context.hpp"

#include <chrono>

#include "redis/redis_url.hpp"

namespace mcphd::ctl {

Outcome<const auth::KeyRing*> Context::keyRing(const std::string& what) const {
  if (!cfg || cfg->keys.empty()) {
    return usageError(what + " need the daemon's keys: pass --config with its secrets section");
  }
  return &cfg->keys;
}

Outcome<redis::SyncClient> Context::connect() const {
  auto endpoint = redis::parseUrl(redisUrl);
  if (!endpoint) {
    return usageError("--redis: " + endpoint.error().message);
  }
  if (!redisUsername.empty()) {
    endpoint->username = redisUsername;
  }
  if (!redisPassword.empty()) {
    endpoint->password = redisPassword;
  }
  endpoint->sentinels = sentinels;
  endpoint->masterName = masterName;
  auto c = redis::SyncClient::connect(endpoint.value(), std::chrono::seconds(5));
  if (!c) {
    return failure(c.error().message);
  }
  return std::move(c.value());
}

Outcome<Context> loadContext(const std::optional<std::string>& configPath,
                             const std::optional<std::string>& redisUrl) {
  Context ctx;
  if (configPath) {
    auto cfg = config::loadFile(*configPath);
    if (!cfg) {
      return usageError(cfg.error().message);
    }
    ctx.redisUrl = cfg->redis.url;
    ctx.redisUsername = cfg->redis.username;
    ctx.redisPassword = cfg->redis.password;
    ctx.sentinels = cfg->redis.sentinels;
    ctx.masterName = cfg->redis.masterName;
    ctx.keys = keyspace::Keyspace(cfg->redis.prefix);
    ctx.cfg = std::move(cfg.value());
  }
  if (redisUrl) {
    ctx.redisUrl = *redisUrl;
    ctx.sentinels.clear();  // that server, not the sentinels' master
    ctx.masterName.clear();
  }
  return ctx;
}

Outcome<redis::Reply> query(redis::SyncClient& c, const std::vector<std::string>& argv) {
  auto r = c.command(argv);
  if (!r) {
    return failure("Redis: " + r.error().message);
  }
  return std::move(r.value());
}

}  // namespace mcphd::ctl
