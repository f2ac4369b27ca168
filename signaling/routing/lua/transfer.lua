-- transfer: the agent in a call hands it on, cold: to another queue, or to a named agent who is free.
-- The kiosk stays connected; the call keeps its age (so it is near the front), notes travel with it,
-- and the transferring agent goes to wrap-up.
-- KEYS: none (P:call:<id>, P:queue:<topic>, P:agent:<name>, P:avail:<topic>, P:reservations, P:events)
-- ARGV: prefix, now_ms, call_id, from_agent, to_topic ('' = keep), to_agent ('' = any), notes, timeout_ms,
--       source (the agent's address, for the audit log; may be '')
-- Returns: {'ok', kiosk_id, offers{...}, abandoned{...}, from_agent_status, topic} | {'unknown_call'}
--          | {'wrong_state', state}
--          | {'agent_unavailable'} | {'unknown_topic'}
local call_id, from, to_topic, to_agent, notes = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local timeout_ms = tonumber(ARGV[8])
local source = ARGV[9] or ''
local ck = P .. ':call:' .. call_id
local c = redis.call('HMGET', ck, 'state', 'agent', 'kiosk_id', 'topic', 'notes', 'score')
if not c[1] or c[2] ~= from then return {'unknown_call'} end
if c[1] ~= 'connecting' then return {'wrong_state', c[1]} end
local topic = c[4]
if to_topic ~= '' then
  if redis.call('EXISTS', P .. ':queue_config:' .. to_topic) == 0 then return {'unknown_topic'} end
  topic = to_topic
end
if to_agent ~= '' and (to_agent == from or not offerable(to_agent) or not present('agent:' .. to_agent)) then
  return {'agent_unavailable'}
end
local all_notes = c[5] or ''
if notes ~= '' then
  if all_notes ~= '' then all_notes = all_notes .. '\n' end
  all_notes = all_notes .. from .. ': ' .. notes
end
redis.call('HSET', ck, 'state', 'queued', 'agent', '', 'topic', topic, 'notes', all_notes)
emit(call_id, 'transferred', 'agent', from, 'to_topic', topic, 'to_agent', to_agent, 'notes', notes,
  'source', source)
-- the transferring agent wraps up their part of the call
local ak = P .. ':agent:' .. from
redis.call('HINCRBY', ak, 'load', -1)
redis.call('HSET', ak, 'call', call_id, 'extended', '')
redis.call('ZADD', P .. ':wrapups', NOW + WRAP_UP_MS, from)
set_state(from, 'wrap_up', '')
local offers, abandoned = {}, {}
if to_agent ~= '' then
  reserve(call_info(call_id), to_agent, timeout_ms)
  offers = {offer_entry(call_id, to_agent)}
else
  redis.call('ZADD', P .. ':queue:' .. topic, tonumber(c[6]), call_id)
  match_topic(topic, timeout_ms, offers, abandoned)
end
return {'ok', c[3], offers, abandoned, agent_status(from), topic}
