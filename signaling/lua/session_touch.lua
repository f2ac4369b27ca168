-- session_touch: read a staff session and slide its idle timeout (never past its absolute lifetime).
-- KEYS: [1] the session (hash)
-- ARGV: [1] now_ms, [2] idle_ms
-- Returns: {username, role, generation} | {} when there is no such session (ended, idle, or too old)
local s = redis.call('HMGET', KEYS[1], 'username', 'role', 'generation', 'expires_ms')
if not s[1] then return {} end
local left = tonumber(s[4] or '0') - tonumber(ARGV[1])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return {}
end
redis.call('PEXPIRE', KEYS[1], math.min(left, tonumber(ARGV[2])))
return {s[1], s[2], s[3] or '0'}
