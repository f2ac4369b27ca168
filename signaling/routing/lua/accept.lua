-- accept: the ringing agent accepts its offer.
-- KEYS: none (P:call:<id>, P:agent:<name>, P:reservations, P:answered:<topic>, P:events)
-- ARGV: prefix, now_ms, call_id, name, source (the agent's address, for the audit log; may be '')
-- Returns: {'ok', kiosk_id, created_ms, agent_status} | {'unknown_call'} | {'wrong_state', state}
local call_id, name, source = ARGV[3], ARGV[4], ARGV[5] or ''
local ck = P .. ':call:' .. call_id
local c = redis.call('HMGET', ck, 'state', 'agent', 'kiosk_id', 'created_ms', 'topic')
if not c[1] or c[2] ~= name then return {'unknown_call'} end
if c[1] ~= 'reserved' then return {'wrong_state', c[1]} end
redis.call('HSET', ck, 'state', 'connecting', 'answered_ms', NOW)
redis.call('HDEL', ck, 'media_ms')
redis.call('ZREM', P .. ':reservations', call_id)
redis.call('HSET', P .. ':agent:' .. name, 'state', 'in_call', 'call', call_id, 'misses', 0)
local answered = P .. ':answered:' .. c[5]
redis.call('ZADD', answered, NOW, call_id)
redis.call('ZREMRANGEBYSCORE', answered, '-inf', NOW - 3600000)
emit(call_id, 'accepted', 'agent', name, 'source', source)
return {'ok', c[3], c[4], agent_status(name)}
