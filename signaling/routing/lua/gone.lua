-- gone: a kiosk or agent connection closed, or its presence expired (its server died).
-- KEYS: none (P:presence, P:kiosk:<id>, P:agent:<name>, P:call:<id>, queues, P:reservations,
--       P:staffed:<topic>, P:events)
-- ARGV: prefix, now_ms, kind ('kiosk'|'agent'), id, conn_id ('' = expired: any connection), max_misses,
--       timeout_ms
-- Returns: {'ok', ended{call, final_state, counterpart}, released{call...}, offers{...}, abandoned{...},
--           status of the agent left in the ended call ({} if none)}
--          | {'superseded'} when a newer connection of the same party is live
--          | {'kept'} when an agent's presence ran out mid-call while the call's media still flows
local kind, id, conn = ARGV[3], ARGV[4], ARGV[5]
local max_misses, timeout_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
local member = kind .. ':' .. id
local hk = P .. ':' .. kind .. ':' .. id
local current = redis.call('HGET', hk, 'conn')
if conn ~= '' and current and current ~= conn then return {'superseded'} end
if conn == '' and present(member) then return {'superseded'} end
if conn == '' and kind == 'agent' then
  -- the grace ran out, but the kiosk reports the call's media still flowing: the agent is still talking
  -- to the customer (only the console's link to the server is down); keep the call while it does
  local a = redis.call('HMGET', hk, 'state', 'call')
  if a[1] == 'in_call' and a[2] and a[2] ~= '' then
    local media_until = tonumber(redis.call('HGET', P .. ':call:' .. a[2], 'media_until') or '0')
    if media_until > NOW then
      redis.call('ZADD', P .. ':presence', media_until, member)
      return {'kept'}
    end
  end
end
redis.call('ZREM', P .. ':presence', member)
redis.call('HDEL', hk, 'conn')
local ended, released, offers, abandoned = {}, {}, {}, {}
if kind == 'kiosk' then
  local call_id = redis.call('HGET', hk, 'call')
  if call_id and is_live(redis.call('HGET', P .. ':call:' .. call_id, 'state')) then
    local prev, final, agent = end_call(call_id, 'kiosk_disconnected', false)
    ended = {call_id, final, agent}
    if prev == 'reserved' and agent ~= '' then match_agent(agent, timeout_ms, offers, abandoned) end
  end
else
  local a = redis.call('HMGET', hk, 'state', 'call')
  local call_id = a[2]
  if a[1] == 'ringing' and call_id and call_id ~= '' then
    local topic = redis.call('HGET', P .. ':call:' .. call_id, 'topic')
    release_reservation(call_id, id, 'offline', max_misses)
    released = {call_id}
    match_topic(topic, timeout_ms, offers, abandoned)
  elseif a[1] == 'in_call' and call_id and call_id ~= '' then
    local _, final = end_call(call_id, 'agent_disconnected', true)
    ended = {call_id, final, redis.call('HGET', P .. ':call:' .. call_id, 'kiosk_id')}
  end
  for _, topic in ipairs(split(redis.call('HGET', hk, 'skills'))) do
    redis.call('SREM', P .. ':staffed:' .. topic, id)
  end
  redis.call('SREM', P .. ':agents', id)
  if redis.call('HGET', hk, 'state') ~= 'wrap_up' then
    -- an agent in wrap-up keeps it (the console rejoins the form; its timer still runs)
    redis.call('HSET', hk, 'call', '', 'load', 0, 'next', '')
    set_state(id, 'offline', '')
  else
    refresh_availability(id)
  end
end
local status = {}
if kind == 'kiosk' and ended[3] and ended[3] ~= '' then status = agent_status(ended[3]) end
return {'ok', ended, released, offers, abandoned, status}
