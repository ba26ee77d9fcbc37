#pragma once

#include "approval/approving_prober.hpp"
#include "keyspace/keyspace.hpp"
#include "redis/commands.hpp"
#include "redis/script.hpp"

namespace mcphd::approval {

// Baselines in Redis: <prefix>baseline:<id>, a hash (docs/PROTOCOL.md, "Tool baselines").
class RedisBaselineStore final : public BaselineStore {
 public:
  // A record larger than this is refused unread (whoever can write to Redis must not make the
  // daemon read without bound).
  static constexpr size_t kMaxRecordBytes = 32 * 1024 * 1024;

  // `secrets` null or empty: records are read unsigned (no secrets configured).
  RedisBaselineStore(redis::Commands& redis, keyspace::Keyspace keys, const auth::KeyRing* secrets);

  void read(const std::string& serverId, bool definitions,
            std::function<void(Result<baseline::Record>)> done) override;
  void learn(const std::string& serverId, const baseline::Baseline& b,
             std::function<void(Result<bool>)> done) override;

 private:
  redis::Commands& redis_;
  keyspace::Keyspace keys_;
  const auth::KeyRing* secrets_;
  redis::Script read_;
  redis::Script learn_;
};

}  // namespace mcphd::approval
