#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "redis/commands.hpp"
#include "redis/redis_url.hpp"

struct redisContext;

namespace mcphd::redis {

// A blocking Redis connection for command-line tools (mcp-healthctl); the daemon uses RedisClient.
// With sentinels in the endpoint, connect() asks them for the master first.
class SyncClient {
 public:
  static Result<SyncClient> connect(const Endpoint& endpoint, std::chrono::milliseconds timeout);
  SyncClient(SyncClient&& other) noexcept;
  SyncClient& operator=(SyncClient&& other) noexcept;
  ~SyncClient();

  // A Redis error reply is returned as an Error too.
  Result<Reply> command(const std::vector<std::string>& argv);
  // MULTI ... EXEC of `commands`.
  Result<Reply> transaction(const std::vector<std::vector<std::string>>& commands);

  // After SUBSCRIBE: the next published message (channel, payload) before `deadline`, or nullopt.
  Result<std::optional<std::pair<std::string, std::string>>> nextMessage(
      std::chrono::steady_clock::time_point deadline);

 private:
  explicit SyncClient(redisContext* c) : ctx_(c) {}
  // connect() without Sentinel: the endpoint's host and port.
  static Result<SyncClient> connectTo(const Endpoint& endpoint, std::chrono::milliseconds timeout);
  redisContext* ctx_ = nullptr;
};

}  // namespace mcphd::redis
