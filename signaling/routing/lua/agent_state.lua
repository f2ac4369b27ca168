-- agent_state: the agent asks to be available or away.
-- KEYS: none (P:agent:<name>, P:avail:<topic>, P:queue:<topic>, P:call:<id>, P:reservations, P:events)
-- ARGV: prefix, now_ms, name, 'available'|'away', reason, timeout_ms
-- Returns: {'ok', state, offers{call, agent, ...}, abandoned{...}} or {'wrong_state', state}
local name, want, reason, timeout_ms = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local ak = P .. ':agent:' .. name
local state = redis.call('HGET', ak, 'state')
if state ~= 'available' and state ~= 'away' then
  return {'wrong_state', state or 'offline'}
end
local offers, abandoned = {}, {}
if want == 'available' then
  redis.call('HSET', ak, 'misses', 0)
  if state ~= 'available' then agent_make_available(name) end
  match_agent_topics(name, timeout_ms, offers, abandoned)
else
  agent_unavailable(name)
  redis.call('HSET', ak, 'state', 'away', 'reason', reason)
end
return {'ok', redis.call('HGET', ak, 'state'), offers, abandoned}
