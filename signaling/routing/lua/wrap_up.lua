-- wrap_up: the agent's wrap-up of a call ends, filed by the agent, by its timer, or by a supervisor;
-- the agent then goes to the state they asked for (available unless they asked for away).
-- KEYS: none (P:agent:<name>, P:wrapups, P:avail:<topic>, P:queue:<topic>, P:call:<id>, P:events)
-- ARGV: prefix, now_ms, name, call_id ('' = whichever), disposition, notes, how ('agent'|'timer'|
--       'supervisor'), timeout_ms
-- Returns: {'ok', call_id, offers{...}, abandoned{...}, agent_status} | {'wrong_state', state} | {'not_due'}
local name, call_id, disposition, notes, how = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local timeout_ms = tonumber(ARGV[8])
local ak = P .. ':agent:' .. name
local a = redis.call('HMGET', ak, 'state', 'call')
if a[1] ~= 'wrap_up' or (call_id ~= '' and a[2] ~= call_id) then return {'wrong_state', a[1] or 'offline'} end
if how == 'timer' then
  local deadline = redis.call('ZSCORE', P .. ':wrapups', name)
  if deadline and tonumber(deadline) > NOW then return {'not_due'} end
end
finish_wrap_up(name, a[2], disposition, notes, how)
local offers, abandoned = {}, {}
match_agent(name, timeout_ms, offers, abandoned)
return {'ok', a[2], offers, abandoned, agent_status(name)}
