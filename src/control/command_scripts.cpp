#include "control/command_scripts.hpp"

namespace mcphd::control {

const std::string& forwardScript() {
  static const std::string s = R"lua(-- mcp-healthd forward
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[6]) or 0
local target = nil
local dead = false
for i = 7, 6 + n do
  if ARGV[4] == '' or redis.call('HEXISTS', ARGV[4] .. ARGV[i], ARGV[3]) == 1 then
    -- Never to a member whose announcement expired: nobody would read its stream any more.
    local expires = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[i]))
    if expires and expires > now then
      target = ARGV[i]
      break
    end
    dead = true
  end
end
if not target then
  if dead then return -2 end
  return -1
end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local fields = {}
for i = 7 + n, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', ARGV[5] .. target, 'MAXLEN', '~', '10000', '*', unpack(fields))
if string.sub(KEYS[1], 1, #ARGV[5]) == ARGV[5] then redis.call('XDEL', KEYS[1], ARGV[2]) end
return 1
)lua";
  return s;
}

const std::string& splitScript() {
  static const std::string s = R"lua(-- mcp-healthd split
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = {}
for i = 6, 5 + (tonumber(ARGV[5]) or 0) do
  local expires = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[i]))
  if expires and expires > now then live[#live + 1] = ARGV[i] end
end
if #live == 0 then return -2 end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'parts', string.format('%d', #live), 'done', '0', 'servers', '0')
redis.call('PEXPIRE', KEYS[2], 86400000)
for _, m in ipairs(live) do
  redis.call('XADD', ARGV[4] .. m, 'MAXLEN', '~', '10000', '*', 'op', 'check', 'server_id', '*',
             'origin', ARGV[3], 'part', '1')
end
return #live
)lua";
  return s;
}

const std::string& partDoneScript() {
  // Counts anyone else wrote that are not whole numbers count as 0: a forged hash cannot make
  // the script fail half-way (effects before an error are kept).
  static const std::string s = R"lua(-- mcp-healthd part done
local kind = redis.call('TYPE', KEYS[2]).ok
if kind ~= 'hash' then
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
  redis.call('XDEL', KEYS[1], ARGV[2])
  return -1
end
local function whole(f)
  local v = tonumber(redis.call('HGET', KEYS[2], f))
  if v and v >= 0 and v < 9007199254740992 and v == math.floor(v) then return v end
  return 0
end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
local done = whole('done') + 1
local total = whole('servers') + (tonumber(ARGV[3]) or 0)
if done >= whole('parts') then
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[4], ARGV[5] .. string.format('%d', total) .. ARGV[6])
  return 2
end
redis.call('HSET', KEYS[2], 'done', string.format('%d', done), 'servers',
           string.format('%d', total))
return 1
)lua";
  return s;
}

}  // namespace mcphd::control
