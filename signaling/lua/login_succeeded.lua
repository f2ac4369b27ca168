-- login_succeeded: a sign-in's password was right: forget the username's failures, and take this attempt
-- back from the client address's count (successes do not count towards throttling an address).
-- KEYS: [1] failures of the username, [2] failures of the client address
-- ARGV: none
-- Returns: the address's count left
redis.call('DEL', KEYS[1])
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n > 1 then
  return redis.call('DECR', KEYS[2])
end
redis.call('DEL', KEYS[2])
return 0
