#include "publish/write_scripts.hpp"

namespace mcphd::publish {

namespace {

// Redis runs Lua 5.1: numbers are doubles, exact up to 2^53. A value anyone else wrote that is
// not such a whole number counts as none (0): whoever can write Redis can reorder messages
// anyway, but cannot make a script fail or stop numbering.
constexpr const char* kPrelude = R"lua(
local function whole(n)
  n = tonumber(n)
  if n and n >= 0 and n < 9007199254740992 and n == math.floor(n) then return n end
  return nil
end
local function counter(id) return whole(redis.call('HGET', KEYS[1], id)) or 0 end
-- The seq in the server's stored status: -1 without one, 0 when it holds none readable.
local function stored_seq(id)
  local v = redis.call('HGET', KEYS[2], id)
  if not v then return -1 end
  local ok, doc = pcall(cjson.decode, v)
  if ok and type(doc) == 'table' then return whole(doc.seq) or 0 end
  return 0
end
local id = ARGV[1]
)lua";

}  // namespace

const std::string& publishScript() {
  static const std::string s = std::string("-- mcp-healthd publish") + kPrelude + R"lua(
local seq = math.max(counter(id), stored_seq(id), whole(ARGV[2]) or 0) + 1
local n = string.format('%d', seq)
redis.call('HSET', KEYS[1], id, n)
if #ARGV >= 10 then redis.call('SET', KEYS[3], ARGV[9] .. n .. ARGV[10]) end
local msg = ARGV[4] .. n .. ARGV[5]
redis.call('HSET', KEYS[2], id, msg)
redis.call('PUBLISH', ARGV[3], msg)
if #ARGV >= 10 then redis.call('PUBLISH', ARGV[6], ARGV[7] .. n .. ARGV[8]) end
return seq
)lua";
  return s;
}

const std::string& removeScript() {
  static const std::string s = std::string("-- mcp-healthd remove") + kPrelude + R"lua(
local seq = math.max(counter(id), stored_seq(id), whole(ARGV[2]) or 0) + 1
local n = string.format('%d', seq)
redis.call('HSET', KEYS[1], id, n)
redis.call('HDEL', KEYS[2], id)
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. n .. ARGV[5])
return seq
)lua";
  return s;
}

const std::string& refillScript() {
  static const std::string s = std::string("-- mcp-healthd refill") + kPrelude + R"lua(
local stored = stored_seq(id)
local c = counter(id)
local seq = whole(ARGV[4]) or 0
local known = whole(ARGV[5]) or 0
-- Not confirmed: written only where Redis holds nothing past what we know (past it: applied, or
-- written by another member since). A counter past the message with no status: removed since.
if seq == 0 then
  if stored > known or c > known then return 0 end
  seq = math.max(c, known) + 1
elseif stored >= seq or c > seq then
  return 0
end
local n = string.format('%d', seq)
if seq > c then redis.call('HSET', KEYS[1], id, n) end
redis.call('HSET', KEYS[2], id, ARGV[2] .. n .. ARGV[3])
return seq
)lua";
  return s;
}

}  // namespace mcphd::publish
