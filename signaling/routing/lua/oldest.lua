-- oldest: when the longest-waiting call of each queue was created, for the queue board. Queue order is
-- not age order (a device fault goes ahead of older calls), so every waiting call is looked at.
-- KEYS: none (P:queue:<topic>, P:call:<id>)
-- ARGV: prefix, now_ms, topic...
-- Returns: {created_ms or '' (an empty queue), ...} one per topic
local out = {}
for i = 3, #ARGV do
  local oldest = nil
  for _, call_id in ipairs(redis.call('ZRANGE', P .. ':queue:' .. ARGV[i], 0, -1)) do
    local created = tonumber(redis.call('HGET', P .. ':call:' .. call_id, 'created_ms'))
    if created and (oldest == nil or created < oldest) then oldest = created end
  end
  out[#out + 1] = oldest and tostring(oldest) or ''
end
return out
