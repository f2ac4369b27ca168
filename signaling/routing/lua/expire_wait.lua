-- expire_wait: a call waited as long as its queue allows; it ends as timed_out, if still waiting.
-- KEYS: none (P:waits, P:call:<id>, P:queue:<topic>, P:kiosk:<id>, P:events)
-- ARGV: prefix, now_ms, call_id
-- Returns: {'ok', kiosk_id} | {'not_due'} | {'gone'}
local call_id = ARGV[3]
local deadline = redis.call('ZSCORE', P .. ':waits', call_id)
if not deadline then return {'gone'} end
if tonumber(deadline) > NOW then return {'not_due'} end
local c = redis.call('HMGET', P .. ':call:' .. call_id, 'state', 'kiosk_id')
if c[1] == 'reserved' then return {'not_due'} end  -- ringing an agent now: let the offer run
redis.call('ZREM', P .. ':waits', call_id)
if c[1] ~= 'queued' then return {'gone'} end
finish_call(call_id, 'timed_out', 'max_wait')
return {'ok', c[2]}
