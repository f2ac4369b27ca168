-- Append messages to their parties' outboxes and publish them, in the order given.
-- ARGV: prefix, ttl_ms, cap, then (address, message) pairs; every message is a JSON object ("{...").
-- Each party's messages are numbered 1, 2, 3... (the number never restarts); the copy kept and published
-- carries it as its first field, "seq", so a client that reconnects can say which it already has.
local prefix, ttl, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local counters = prefix .. ':outseq'
for i = 4, #ARGV, 2 do
  local address, message = ARGV[i], ARGV[i + 1]
  local seq = redis.call('HINCRBY', counters, address, 1)
  local framed = '{"seq":' .. seq .. ',' .. string.sub(message, 2)
  local box = prefix .. ':outbox:' .. address
  redis.call('RPUSH', box, framed)
  redis.call('LTRIM', box, -cap, -1)
  redis.call('PEXPIRE', box, ttl)
  redis.call('PUBLISH', prefix .. ':to:' .. address, framed)
end
return (#ARGV - 3) / 2
