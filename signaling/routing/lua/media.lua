-- media: the kiosk reports whether its call's media flows (heartbeats on the control channel arrive).
-- While it does, an agent whose connection dropped is not taken out of the call when the reconnect grace
-- runs out: the conversation goes on peer to peer (see gone.lua).
-- KEYS: none (P:call:<id>)
-- ARGV: prefix, now_ms, call_id, kiosk_id, flowing ('1'|'0'), fresh_ms (how long a report holds)
-- The first report that media flows after an accept records 'media_ms' and returns the setup time (from
-- the accept); accept.lua clears it, so a transferred call's next leg is timed too.
-- Returns: {'ok', setup_ms or ''} | {'unknown_call'} | {'wrong_state', state}
local ck = P .. ':call:' .. ARGV[3]
local c = redis.call('HMGET', ck, 'kiosk_id', 'state')
if c[1] ~= ARGV[4] then return {'unknown_call'} end
if c[2] ~= 'connecting' then return {'wrong_state', c[2]} end
redis.call('HSET', ck, 'media_until', ARGV[5] == '1' and (NOW + tonumber(ARGV[6])) or 0)
local setup = ''
if ARGV[5] == '1' and redis.call('HSETNX', ck, 'media_ms', NOW) == 1 then
  local answered = tonumber(redis.call('HGET', ck, 'answered_ms') or '')
  if answered then setup = tostring(math.max(0, NOW - answered)) end
end
return {'ok', setup}
