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

// The commands a message answers, from ARGV[at]: k entries (stream KEYS[3 + i]; group, entry id,
// '1' to delete the entry once acknowledged, the command id as JSON), each named only when this
// XACK is the one that acknowledges it; then b ids as JSON, named as they are (`check *` ids,
// answered by their command_done). Returns the ids' JSON (as commandIdsJson() writes it) and the
// index of the ARGV after them.
// Whether consumer group `group` of stream `key` has delivered entry `id`: its last delivered id
// is not older. False when there is no such stream or group.
constexpr const char* kDelivered = R"lua(
local function delivered(key, group, id)
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', key)
  if not ok or type(groups) ~= 'table' then return false end
  local im, is = string.match(id, '^(%d+)-(%d+)$')
  if not im then return false end
  for _, g in ipairs(groups) do
    local name, last = nil, nil
    for j = 1, #g - 1, 2 do
      if g[j] == 'name' then name = g[j + 1] elseif g[j] == 'last-delivered-id' then last = g[j + 1] end
    end
    if name == group and type(last) == 'string' then
      local lm, ls = string.match(last, '^(%d+)-(%d+)$')
      if not lm then return false end
      lm, ls, im, is = tonumber(lm), tonumber(ls), tonumber(im), tonumber(is)
      return lm > im or (lm == im and ls >= is)
    end
  end
  return false
end
)lua";

constexpr const char* kAnswers = R"lua(
local function answers(at)
  local names = {}
  local k = whole(ARGV[at]) or 0
  for i = 1, k do
    local a = at + 4 * (i - 1)
    local acked = redis.pcall('XACK', KEYS[3 + i], ARGV[a + 1], ARGV[a + 2])
    -- 0: acknowledged before, by the message that answered it then, if the group delivered it;
    -- else Redis lost it (restarted without persistence; the group was made anew). Lost, or an
    -- error (the key is no stream, no group): nobody can read the entry again, so this message
    -- answers it.
    if acked == 0 and not delivered(KEYS[3 + i], ARGV[a + 1], ARGV[a + 2]) then acked = -1 end
    if acked ~= 0 then
      names[#names + 1] = ARGV[a + 4]
      if acked == 1 and ARGV[a + 3] == '1' then redis.pcall('XDEL', KEYS[3 + i], ARGV[a + 2]) end
    end
  end
  at = at + 1 + 4 * k
  local b = whole(ARGV[at]) or 0
  for i = 1, b do names[#names + 1] = ARGV[at + i] end
  if #names == 0 then return '', at + b + 1 end
  return ',"command_id":' .. names[1] .. ',"command_ids":[' .. table.concat(names, ',') .. ']',
         at + b + 1
end
)lua";

}  // namespace

const std::string& publishScript() {
  static const std::string s =
      std::string("-- mcp-healthd publish") + kPrelude + kDelivered + kAnswers + R"lua(
local seq = math.max(counter(id), stored_seq(id), whole(ARGV[2]) or 0) + 1
local n = string.format('%d', seq)
redis.call('HSET', KEYS[1], id, n)
local ids, t = answers(7)
local tools = #ARGV >= t + 4
if tools then redis.call('SET', KEYS[3], ARGV[t + 3] .. n .. ARGV[t + 4]) end
local msg = ARGV[4] .. n .. ARGV[5] .. ids .. ARGV[6]
redis.call('HSET', KEYS[2], id, msg)
redis.call('PUBLISH', ARGV[3], msg)
if tools then redis.call('PUBLISH', ARGV[t], ARGV[t + 1] .. n .. ARGV[t + 2]) end
return {seq, ids}
)lua";
  return s;
}

const std::string& removeScript() {
  static const std::string s =
      std::string("-- mcp-healthd remove") + kPrelude + kDelivered + kAnswers + R"lua(
local seq = math.max(counter(id), stored_seq(id), whole(ARGV[2]) or 0) + 1
local n = string.format('%d', seq)
redis.call('HSET', KEYS[1], id, n)
redis.call('HDEL', KEYS[2], id)
redis.call('DEL', KEYS[3])
local ids = answers(7)
redis.call('PUBLISH', ARGV[3], ARGV[4] .. n .. ARGV[5] .. ids .. ARGV[6])
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

const std::string& answerScript() {
  static const std::string s = std::string("-- mcp-healthd answer") + kDelivered + R"lua(
local acked = redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 and delivered(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
if acked == 1 and ARGV[3] == '1' then redis.pcall('XDEL', KEYS[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
)lua";
  return s;
}

}  // namespace mcphd::publish
