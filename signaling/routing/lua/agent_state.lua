-- agent_state: the agent (or a supervisor) asks for available, away or offline. Asked while ringing,
-- in a call or in wrap-up, the change is kept as the agent's next state and applied when that work ends.
-- KEYS: none (P:agent:<name>, P:avail:<topic>, P:queue:<topic>, P:call:<id>, P:reservations, P:events)
-- ARGV: prefix, now_ms, name, 'available'|'away'|'offline', reason, timeout_ms
-- Returns: {'ok', state, next, offers{offer_entry...}, abandoned{{call, kiosk}...}, agent_status}
local name, want, reason, timeout_ms = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local ak = P .. ':agent:' .. name
local state = redis.call('HGET', ak, 'state') or 'offline'
local offers, abandoned = {}, {}
if state == 'ringing' or state == 'in_call' or state == 'wrap_up' then
  local next_state = want
  if want == 'available' then next_state = '' elseif reason ~= '' then next_state = want .. ':' .. reason end
  redis.call('HSET', ak, 'next', next_state)
elseif want == 'available' then
  redis.call('HSET', ak, 'misses', 0, 'next', '')
  if state ~= 'available' then set_state(name, 'available', '') end
  match_agent(name, timeout_ms, offers, abandoned)
else
  redis.call('HSET', ak, 'next', '')
  set_state(name, want, reason)
end
return {'ok', redis.call('HGET', ak, 'state'), redis.call('HGET', ak, 'next') or '', offers, abandoned,
  agent_status(name)}
