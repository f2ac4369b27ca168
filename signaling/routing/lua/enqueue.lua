-- enqueue: a kiosk asks for help; create the call, queue it by priority and age, try to offer it at once.
-- KEYS: none (names are derived from the prefix: P:seq, P:call:<id>, P:queue:<topic>, P:kiosk:<id>,
--       P:waits, P:events)
-- ARGV: prefix, now_ms, call_id, kiosk_id, topic, language, priority, context_json, location, timeout_ms,
--       max_wait_ms (0: none), answers_window_ms
-- Returns: {'ok', call_id, offers{offer_entry...}, abandoned{{call, kiosk}...}, position (0: ringing an
--          agent), answered in the window, agents staffed}  (the last three for the kiosk's wait estimate)
--          {'active_call', existing_call_id} when the kiosk already has a live call
--          {'full', max_length} when the queue holds as many calls as it may
--          {'degraded', why} when the kiosk's last telemetry says it offers no video help (P:fleet:<id>)
local call_id, kiosk, topic, language = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local priority, context, location = tonumber(ARGV[7]), ARGV[8], ARGV[9]
local timeout_ms, max_wait_ms, window_ms = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local kk = P .. ':kiosk:' .. kiosk
local existing = redis.call('HGET', kk, 'call')
if existing and is_live(redis.call('HGET', P .. ':call:' .. existing, 'state')) then
  return {'active_call', existing}
end
local degraded = redis.call('HGET', P .. ':fleet:' .. kiosk, 'video')
if degraded and degraded ~= '' then
  return {'degraded', degraded}
end
local q = queue_config(topic)
if q.max_length > 0 and redis.call('ZCARD', P .. ':queue:' .. topic) >= q.max_length then
  return {'full', q.max_length}
end
local seq = redis.call('INCR', P .. ':seq')
local score = (NOW - priority * q.aging) * 1024 + seq % 1024
redis.call('HSET', P .. ':call:' .. call_id, 'id', call_id, 'kiosk_id', kiosk, 'topic', topic,
  'language', language, 'priority', priority, 'score', score, 'state', 'queued', 'agent', '',
  'created_ms', NOW, 'location', location, 'context', context, 'notes', '')
redis.call('ZADD', P .. ':queue:' .. topic, score, call_id)
redis.call('HSET', kk, 'call', call_id)
if max_wait_ms > 0 then redis.call('ZADD', P .. ':waits', NOW + max_wait_ms, call_id) end
emit(call_id, 'created', 'kiosk_id', kiosk, 'topic', topic, 'language', language,
  'priority', priority, 'context', context, 'location', location)
local offers, abandoned = {}, {}
match_topic(topic, timeout_ms, offers, abandoned)
local rank = redis.call('ZRANK', P .. ':queue:' .. topic, call_id)
local position = 0
if rank then position = rank + 1 end
local answered = redis.call('ZCOUNT', P .. ':answered:' .. topic, NOW - window_ms, '+inf')
return {'ok', call_id, offers, abandoned, position, answered, redis.call('SCARD', P .. ':staffed:' .. topic)}
