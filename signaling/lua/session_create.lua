-- session_create: store a new staff session and add it to its account's set of sessions.
-- KEYS: [1] the session (hash), [2] the account's set of session digests
-- ARGV: [1] username, [2] role, [3] generation, [4] digest, [5] now_ms, [6] lifetime_ms, [7] idle_ms,
--       [8] the prefix of session keys (to drop ended sessions from the set)
-- Returns: how many sessions of the account are live now
local lifetime_ms, idle_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'username', ARGV[1], 'role', ARGV[2], 'generation', ARGV[3],
  'expires_ms', tonumber(ARGV[5]) + lifetime_ms)
redis.call('PEXPIRE', KEYS[1], math.min(lifetime_ms, idle_ms))
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[8] .. digest) == 0 then redis.call('SREM', KEYS[2], digest) end
end
redis.call('SADD', KEYS[2], ARGV[4])
if redis.call('PTTL', KEYS[2]) < lifetime_ms then redis.call('PEXPIRE', KEYS[2], lifetime_ms) end
return redis.call('SCARD', KEYS[2])
