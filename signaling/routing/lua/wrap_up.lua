-- wrap_up: the agent files the disposition of the call it just finished and becomes available.
-- KEYS: none (P:agent:<name>, P:avail:<topic>, P:queue:<topic>, P:call:<id>, P:events)
-- ARGV: prefix, now_ms, name, call_id, disposition, notes, timeout_ms
-- Returns: {'ok', offers{...}, abandoned{...}} | {'wrong_state', state}
local name, call_id, disposition, notes, timeout_ms = ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local ak = P .. ':agent:' .. name
local a = redis.call('HMGET', ak, 'state', 'call')
if a[1] ~= 'wrap_up' or a[2] ~= call_id then return {'wrong_state', a[1] or 'offline'} end
emit(call_id, 'wrapped_up', 'agent', name, 'disposition', disposition, 'notes', notes)
agent_make_available(name)
local offers, abandoned = {}, {}
match_agent_topics(name, timeout_ms, offers, abandoned)
return {'ok', offers, abandoned}
