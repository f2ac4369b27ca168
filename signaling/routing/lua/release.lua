-- release: a ringing offer is declined, times out, or its agent went offline; the call keeps its place.
-- KEYS: none (P:call:<id>, P:queue:<topic>, P:agent:<name>, P:avail:<topic>, P:reservations, P:events)
-- ARGV: prefix, now_ms, call_id, name ('' = whoever holds it), mode, max_misses, timeout_ms
-- Returns: {'ok', agent, agent_state, offers{...}, abandoned{...}, agent_status} | {'unknown_call'}
--          | {'not_due'}
local call_id, name, mode = ARGV[3], ARGV[4], ARGV[5]
local max_misses, timeout_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
local ck = P .. ':call:' .. call_id
local c = redis.call('HMGET', ck, 'state', 'agent', 'topic')
if c[1] ~= 'reserved' or (name ~= '' and c[2] ~= name) then
  if mode == 'timeout' then redis.call('ZREM', P .. ':reservations', call_id) end
  return {'unknown_call'}
end
if mode == 'timeout' then
  local deadline = redis.call('ZSCORE', P .. ':reservations', call_id)
  if deadline and tonumber(deadline) > NOW then return {'not_due'} end
end
local agent = c[2]
local agent_state = release_reservation(call_id, agent, mode, max_misses)
local offers, abandoned = {}, {}
match_topic(c[3], timeout_ms, offers, abandoned)
match_agent(agent, timeout_ms, offers, abandoned)
return {'ok', agent, agent_state, offers, abandoned, agent_status(agent)}
