#include "approval/redis_baseline_store.hpp"

#include <map>

#include "auth/key_ring.hpp"

namespace mcphd::approval {

namespace {

// KEYS[1] the record; ARGV[1] the most bytes to return, ARGV[2] "1" for the definitions too.
// Returns {} when there is none, else its number of fields then the flat field/value list, or an
// error reply when the record is too large (the size is added up in Redis, so an oversized
// record never crosses the wire) or the key is no hash.
constexpr const char* kReadScriptText = R"lua(
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then
  return {}
end
if kind ~= 'hash' then
  return redis.error_reply('NOTHASH the key is a ' .. kind .. ', not a hash')
end
local flat = redis.call('HGETALL', KEYS[1])
local total = 0
local out = {#flat / 2}  -- the record's size first: one of only definitions is not absent
for i = 1, #flat, 2 do
  local f = flat[i]
  if ARGV[2] == '1' or string.sub(f, 1, 4) ~= 'def:' then
    total = total + #f + #flat[i + 1]
    out[#out + 1] = f
    out[#out + 1] = flat[i + 1]
  end
end
if total > tonumber(ARGV[1]) then
  return redis.error_reply('TOOLARGE the record holds ' .. total .. ' bytes')
end
return out
)lua";

// KEYS[1] the record; ARGV: field, value, ... Written only when there is none: an approval made
// meanwhile wins over what tofu learned.
constexpr const char* kLearnScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
-- In slices: unpack() of a few thousand values would overflow Lua's stack.
for i = 1, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
)lua";

}  // namespace

RedisBaselineStore::RedisBaselineStore(redis::Commands& redis, keyspace::Keyspace keys,
                                       const auth::KeyRing* secrets)
    : redis_(redis),
      keys_(std::move(keys)),
      secrets_(secrets),
      read_(kReadScriptText),
      learn_(kLearnScript) {}

const char* baselineReadScript() { return kReadScriptText; }

std::vector<std::string> baselineReadArgs(std::string key, bool definitions) {
  return {std::move(key), std::to_string(RedisBaselineStore::kMaxRecordBytes),
          definitions ? "1" : "0"};
}

Result<baseline::Record> recordFromRead(const std::string& serverId, const redis::Reply& reply,
                                        const auth::KeyRing* secrets) {
  baseline::Record record;
  if (reply.type == redis::Reply::Type::kError) {
    if (reply.str.rfind("TOOLARGE ", 0) == 0) {
      record.state = baseline::Record::State::kInvalid;
      record.reason = reply.str.substr(9) + ", more than the " +
                      std::to_string(RedisBaselineStore::kMaxRecordBytes / (1024 * 1024)) +
                      " MiB allowed";
      return record;
    }
    if (reply.str.rfind("NOTHASH ", 0) == 0) {
      record.state = baseline::Record::State::kInvalid;
      record.reason = reply.str.substr(8, 100);
      return record;
    }
    return makeError("Redis refused to read it: " + reply.str.substr(0, 200));
  }
  if (reply.type != redis::Reply::Type::kArray) {
    return makeError("Redis answered the read with something other than a list");
  }
  if (reply.elements.empty()) {
    return record;  // absent
  }
  std::map<std::string, std::string> fields;
  for (size_t i = 1; i + 1 < reply.elements.size(); i += 2) {
    fields[reply.elements[i].str] = reply.elements[i + 1].str;
  }
  // No key configured (yet: a reload may add one): read unsigned.
  auto b = baseline::fromFields(serverId, fields,
                                secrets != nullptr && !secrets->empty() ? secrets : nullptr);
  if (b) {
    record.state = baseline::Record::State::kValid;
    record.baseline = std::move(*b);
  } else {
    record.state = baseline::Record::State::kInvalid;
    record.reason = b.error().message;
  }
  return record;
}

void RedisBaselineStore::read(const std::string& serverId, bool definitions,
                              std::function<void(Result<baseline::Record>)> done) {
  const bool sent =
      read_.run(redis_, 1, baselineReadArgs(keys_.baseline(serverId), definitions),
                // No `this` here (the secrets are the config's, which outlives the connection).
                // Script itself keeps `this` of its own for a NOSCRIPT resend: the store must go
                // before the connection, which drops pending replies when it goes (as in Daemon).
                [secrets = secrets_, serverId, done](Result<redis::Reply> r) {
                  if (!r) {
                    return done(r.error());
                  }
                  done(recordFromRead(serverId, *r, secrets));
                });
  if (!sent) {
    done(makeError("not connected to Redis"));
  }
}

void RedisBaselineStore::learn(const std::string& serverId, const baseline::Baseline& b,
                               std::function<void(Result<bool>)> done) {
  std::vector<std::string> args{keys_.baseline(serverId)};
  for (auto& [field, value] : baseline::toFields(b)) {
    args.push_back(std::move(field));
    args.push_back(std::move(value));
  }
  const bool sent = learn_.run(redis_, 1, std::move(args), [done](Result<redis::Reply> r) {
    if (!r) {
      return done(r.error());
    }
    if (r->type == redis::Reply::Type::kError) {
      return done(makeError("Redis refused the write: " + r->str.substr(0, 200)));
    }
    done(r->type == redis::Reply::Type::kInteger && r->integer == 1);
  });
  if (!sent) {
    done(makeError("not connected to Redis"));
  }
}

}  // namespace mcphd::approval
