-- enqueue: a kiosk asks for help; create the call, queue it and try to offer it at once.
-- KEYS: none (names are derived from the prefix: P:seq, P:call:<id>, P:queue:<topic>, P:kiosk:<id>, P:events)
-- ARGV: prefix, now_ms, call_id, kiosk_id, topic, language, priority, context_json, location, timeout_ms
-- Returns: {'ok', call_id, offers{call, agent, ...}, abandoned{call...}}
--          {'active_call', existing_call_id} when the kiosk already has a live call
local call_id, kiosk, topic, language = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local priority, context, location, timeout_ms = ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10])
local kk = P .. ':kiosk:' .. kiosk
local existing = redis.call('HGET', kk, 'call')
if existing and is_live(redis.call('HGET', P .. ':call:' .. existing, 'state')) then
  return {'active_call', existing}
end
local seq = redis.call('INCR', P .. ':seq')
redis.call('HSET', P .. ':call:' .. call_id, 'id', call_id, 'kiosk_id', kiosk, 'topic', topic,
  'language', language, 'priority', priority, 'seq', seq, 'state', 'queued', 'agent', '',
  'created_ms', NOW, 'location', location, 'context', context)
redis.call('ZADD', P .. ':queue:' .. topic, seq, call_id)
redis.call('HSET', kk, 'call', call_id)
emit(call_id, 'created', 'kiosk_id', kiosk, 'topic', topic, 'language', language,
  'priority', priority, 'context', context, 'location', location)
local offers, abandoned = {}, {}
match_topic(topic, timeout_ms, offers, abandoned)
return {'ok', call_id, offers, abandoned}
