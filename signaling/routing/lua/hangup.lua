-- hangup: a party ends (or a kiosk cancels) a live call; a supervisor may remove a waiting one.
-- KEYS: none (P:call:<id>, P:queue:<topic>, P:kiosk:<id>, P:agent:<name>, P:reservations, P:events)
-- ARGV: prefix, now_ms, call_id, party_kind ('kiosk'|'agent'|'supervisor'), party_id, reason, timeout_ms
-- Returns: {'ok', prev_state, final_state, agent, kiosk_id, offers{...}, abandoned{...},
--           agent_status ({} without an agent)}
--          | {'unknown_call'} | {'wrong_state', state}
local call_id, kind, party, reason, timeout_ms = ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local ck = P .. ':call:' .. call_id
local c = redis.call('HMGET', ck, 'state', 'agent', 'kiosk_id')
if not c[1] then return {'unknown_call'} end
if kind == 'kiosk' and c[3] ~= party then return {'unknown_call'} end
if kind == 'agent' and c[2] ~= party then return {'unknown_call'} end
if not is_live(c[1]) then return {'wrong_state', c[1]} end
if kind == 'agent' and c[1] ~= 'connecting' then return {'wrong_state', c[1]} end
if kind == 'supervisor' and c[1] == 'connecting' then return {'wrong_state', c[1]} end
local prev, final, agent = end_call(call_id, reason, false)
local offers, abandoned = {}, {}
if prev == 'reserved' and agent ~= '' then match_agent(agent, timeout_ms, offers, abandoned) end
local status = {}
if agent ~= '' then status = agent_status(agent) end
return {'ok', prev, final, agent, c[3], offers, abandoned, status}
