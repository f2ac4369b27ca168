-- extend_wrap_up: the agent asks for more time to wrap up; granted once per call.
-- KEYS: none (P:agent:<name>, P:wrapups)
-- ARGV: prefix, now_ms, name, call_id
-- Returns: {'ok', new_deadline_ms, agent_status} | {'wrong_state', state} | {'already_extended'}
local name, call_id = ARGV[3], ARGV[4]
local ak = P .. ':agent:' .. name
local a = redis.call('HMGET', ak, 'state', 'call', 'extended')
if a[1] ~= 'wrap_up' or a[2] ~= call_id then return {'wrong_state', a[1] or 'offline'} end
if a[3] == '1' then return {'already_extended'} end
local deadline = tonumber(redis.call('ZSCORE', P .. ':wrapups', name) or NOW) + WRAP_UP_EXTENSION_MS
redis.call('ZADD', P .. ':wrapups', deadline, name)
redis.call('HSET', ak, 'extended', '1')
return {'ok', deadline, agent_status(name)}
