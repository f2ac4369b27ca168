-- agent_online: an agent's console connected; record its profile and presence, keep any live state.
-- KEYS: none (P:agent:<name>, P:presence, P:agents)
-- ARGV: prefix, now_ms, name, skills_csv, languages_csv, capacity, presence_expiry_ms, conn_id
-- Returns: {state, call_id}  (the state the agent resumes in; a new or offline agent starts away)
local name = ARGV[3]
local ak = P .. ':agent:' .. name
redis.call('HSET', ak, 'skills', ARGV[4], 'languages', ARGV[5], 'capacity', ARGV[6], 'conn', ARGV[8])
redis.call('HSETNX', ak, 'load', 0)
redis.call('HSETNX', ak, 'misses', 0)
redis.call('ZADD', P .. ':presence', tonumber(ARGV[7]), 'agent:' .. name)
redis.call('SADD', P .. ':agents', name)
local state = redis.call('HGET', ak, 'state')
if not state or state == 'offline' then
  redis.call('HSET', ak, 'state', 'away', 'reason', 'signed in', 'call', '', 'load', 0)
  state = 'away'
end
return {state, redis.call('HGET', ak, 'call') or ''}
