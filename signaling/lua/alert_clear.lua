-- alert_clear: close an open alert, once: read and remove it in one step, so two servers clearing the same
-- alert at once (or a clear racing a new raise) record exactly one clearing of exactly the alert removed.
-- KEYS: [1] the open alerts (hash: alert key -> alert JSON)
-- ARGV: [1] the alert key
-- Returns: the alert's JSON, or false when it was not open
local alert = redis.call('HGET', KEYS[1], ARGV[1])
if alert then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return alert
