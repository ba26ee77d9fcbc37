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

// Reading a record is one Lua script, run by the daemon (EVALSHA) and by mcp-healthctl (EVAL): the
// record's size is added up inside Redis, so one over kMaxRecordBytes never crosses the wire.
const char* baselineReadScript();
// Its arguments: KEYS[1] `key` (the record), then the bound, and whether to return the approved
// definitions too.
std::vector<std::string> baselineReadArgs(std::string key, bool definitions);
// The record of `serverId` that the script's reply describes (an error reply included: too large,
// or not a hash, is a record that is not valid). An Error: Redis would not run it.
Result<baseline::Record> recordFromRead(const std::string& serverId, const redis::Reply& reply,
                                        const auth::KeyRing* secrets);

}  // namespace mcphd::approval
