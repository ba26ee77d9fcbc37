#include "registry/record_writes.hpp"

namespace mcphd::registry {

namespace {

// KEYS: the record, the servers set. ARGV: the expected blob ('' for none), the id, then field,
// value, ...
constexpr const char* kPutIfUnchangedScript =
    "if (redis.call('HGET', KEYS[1], 'credentials') or '') ~= ARGV[1] then return 0 end "
    "redis.call('DEL', KEYS[1]) "
    "for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end "
    "redis.call('SADD', KEYS[2], ARGV[2]) return 1";

}  // namespace

std::vector<Command> putRecord(const keyspace::Keyspace& keys, const std::string& id,
                               const RecordFields& fields) {
  Command hset = {"HSET", keys.server(id)};
  for (const auto& [k, v] : fields) {
    hset.push_back(k);
    hset.push_back(v);
  }
  return {{"DEL", keys.server(id)}, std::move(hset), {"SADD", keys.servers(), id}};
}

Command putRecordIfUnchanged(const keyspace::Keyspace& keys, const std::string& id,
                             const RecordFields& fields, const std::string& expected) {
  Command argv = {"EVAL", kPutIfUnchangedScript, "2", keys.server(id), keys.servers(), expected,
                  id};
  for (const auto& [k, v] : fields) {
    argv.push_back(k);
    argv.push_back(v);
  }
  return argv;
}

Command replaceCredentials(const keyspace::Keyspace& keys, const std::string& id,
                           const std::string& expected, const std::string& blob) {
  return {"EVAL", kCredentialsCasScript, "1", keys.server(id), expected, blob};
}

std::vector<Command> removeRecord(const keyspace::Keyspace& keys, const std::string& id) {
  return {{"SREM", keys.servers(), id}, {"DEL", keys.server(id)}};
}

}  // namespace mcphd::registry
