-- login_attempt: count a sign-in attempt before its password is checked, unless a limit is reached.
-- Every attempt counts as a failure until login_succeeded.lua forgets it, so however many requests run
-- at once, no more than the limit are ever checked in one window.
-- KEYS: [1] failures of the username (not counted unless ARGV[5] is 1: a name no account can have),
--       [2] failures of the client address
-- ARGV: [1] max failures per username, [2] max failures per address, [3] window_ms, [4] lockout_ms,
--       [5] '1' when KEYS[1] is to be counted
-- Returns: {which, remaining_ms}: {'ok', 0} the attempt may go on; {'user', ms} the username is locked;
--          {'ip', ms} the address is throttled. A counter that reaches its limit lives on for lockout_ms.
local max_user, max_ip = tonumber(ARGV[1]), tonumber(ARGV[2])
local window_ms, lockout_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local count_user = ARGV[5] == '1'

local function remaining(key)
  local ttl = redis.call('PTTL', key)
  if ttl < 1 then ttl = 1 end
  return ttl
end

if count_user and tonumber(redis.call('GET', KEYS[1]) or '0') >= max_user then
  return {'user', remaining(KEYS[1])}
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= max_ip then
  return {'ip', remaining(KEYS[2])}
end

local function count(key, limit)
  local n = redis.call('INCR', key)
  if n >= limit then
    redis.call('PEXPIRE', key, lockout_ms)
  elseif n == 1 or redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, window_ms)
  end
end

if count_user then count(KEYS[1], max_user) end
count(KEYS[2], max_ip)
return {'ok', 0}
