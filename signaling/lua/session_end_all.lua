-- session_end_all: end every session of one staff account.
-- KEYS: [1] the account's set of session digests
-- ARGV: [1] the prefix of session keys
-- Returns: how many sessions were ended
local ended = 0
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', ARGV[1] .. digest)
end
redis.call('DEL', KEYS[1])
return ended
