-- survey: the customer rates the call after it ended, from the call's own kiosk, once.
-- KEYS: none (P:call:<id>, P:events)
-- ARGV: prefix, now_ms, call_id, kiosk_id, rating ('1'..'5'), comment
-- The call's hash lives a day after its end (see finish_call), so a survey is taken within that day.
-- Returns: {'ok'} | {'unknown_call'} | {'wrong_state', state} | {'already_rated'}
local call_id, kiosk_id = ARGV[3], ARGV[4]
local ck = P .. ':call:' .. call_id
local c = redis.call('HMGET', ck, 'kiosk_id', 'state')
if c[1] ~= kiosk_id then return {'unknown_call'} end
if c[2] ~= 'completed' and c[2] ~= 'abandoned' and c[2] ~= 'timed_out' and c[2] ~= 'failed' then
  return {'wrong_state', c[2]}
end
if redis.call('HSETNX', ck, 'survey_ms', NOW) == 0 then return {'already_rated'} end
emit(call_id, 'survey', 'rating', ARGV[5], 'comment', ARGV[6])
return {'ok'}
