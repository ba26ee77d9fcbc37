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

// Answers the command entry `entry` of stream `stream` (consumer group `group`): true when this
// is its first answer. XACK acknowledges it; SET NX of `marker` (kept a day) records that it was
// answered. XACK 1: first. XACK 0: answered before if the marker is there; else Redis lost the
// entry (restarted without persistence: the marker went with it), nobody can read it again, and
// this answer is the first. `del`: XDEL the entry once acknowledged (a member's stream). The
// second value is an error to log (a Redis user without XACK or SET), or nil.
constexpr const char* kFirstAnswer = R"lua(
local function first_answer(stream, marker, group, entry, del)
  local err = nil
  local acked = redis.pcall('XACK', stream, group, entry)
  if type(acked) ~= 'number' then
    err = 'XACK ' .. stream .. ': ' .. tostring(type(acked) == 'table' and acked.err or acked)
    acked = 0
  end
  local set = redis.pcall('SET', marker, '1', 'NX', 'PX', 86400000)
  if type(set) == 'table' and set.err then
    return acked == 1, err or ('SET ' .. marker .. ': ' .. tostring(set.err))
  end
  if acked == 1 and del == '1' then redis.pcall('XDEL', stream, entry) end
  return acked == 1 or set ~= false, err
end
)lua";

// The commands a message answers, from ARGV[at]: k entries (stream KEYS[2 + 2i] and its answered
// marker KEYS[3 + 2i]; group, entry id, '1' to delete the entry once acknowledged, the command id
// as JSON), each named only when this is its first answer; then b ids as JSON, named as they are
// (`check *` ids, answered by their command_done). Returns the ids' JSON (as commandIdsJson()
// writes it), the index of the ARGV after them, and an error to log ('' for none).
constexpr const char* kAnswers = R"lua(
local function answers(at)
  local names = {}
  local errors = ''
  local k = whole(ARGV[at]) or 0
  for i = 1, k do
    local a = at + 4 * (i - 1)
    local first, err = first_answer(KEYS[2 + 2 * i], KEYS[3 + 2 * i], ARGV[a + 1], ARGV[a + 2],
                                    ARGV[a + 3])
    if first then names[#names + 1] = ARGV[a + 4] end
    if err and errors == '' then errors = err end
  end
  at = at + 1 + 4 * k
  local b = whole(ARGV[at]) or 0
  for i = 1, b do names[#names + 1] = ARGV[at + i] end
  if #names == 0 then return '', at + b + 1, errors end
  return ',"command_id":' .. names[1] .. ',"command_ids":[' .. table.concat(names, ',') .. ']',
         at + b + 1, errors
end
)lua";

}  // namespace

const std::string& publishScript() {
  static const std::string s =
      std::string("-- mcp-healthd publish") + kPrelude + kFirstAnswer + kAnswers + R"lua(
local seq = math.max(counter(id), stored_seq(id), whole(ARGV[2]) or 0) + 1
local n = string.format('%d', seq)
redis.call('HSET', KEYS[1], id, n)
local ids, t, errors = answers(7)
-- After the answers: the tools (channel, event head/tail, snapshot head/tail), when they
-- changed, then a drift message (channel, head/tail), when the check entered drifted.
local rest = #ARGV - t + 1
local tools = rest == 5 or rest == 8
local drift = tools and t + 5 or t
if tools then redis.call('SET', KEYS[3], ARGV[t + 3] .. n .. ARGV[t + 4]) end
local msg = ARGV[4] .. n .. ARGV[5] .. ids .. ARGV[6]
redis.call('HSET', KEYS[2], id, msg)
redis.call('PUBLISH', ARGV[3], msg)
if tools then redis.call('PUBLISH', ARGV[t], ARGV[t + 1] .. n .. ARGV[t + 2]) end
if rest == 3 or rest == 8 then redis.call('PUBLISH', ARGV[drift], ARGV[drift + 1] .. n .. ARGV[drift + 2]) end
return {seq, ids, errors}
)lua";
  return s;
}

const std::string& removeScript() {
  static const std::string s =
      std::string("-- mcp-healthd remove") + kPrelude + kFirstAnswer + kAnswers + R"lua(
local seq = math.max(counter(id), stored_seq(id), whole(ARGV[2]) or 0) + 1
local n = string.format('%d', seq)
redis.call('HSET', KEYS[1], id, n)
redis.call('HDEL', KEYS[2], id)
redis.call('DEL', KEYS[3])
local ids, _, errors = answers(7)
redis.call('PUBLISH', ARGV[3], ARGV[4] .. n .. ARGV[5] .. ids .. ARGV[6])
return {seq, ids, errors}
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
  static const std::string s = std::string("-- mcp-healthd answer") + kFirstAnswer + R"lua(
local first, err = first_answer(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
if first then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {first and 1 or 0, err or ''}
)lua";
  return s;
}

}  // namespace mcphd::publish
