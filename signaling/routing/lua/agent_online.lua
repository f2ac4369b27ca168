-- agent_online: an agent's console connected; record its profile and presence, keep any live state.
-- KEYS: none (P:agent:<name>, P:presence, P:agents, P:staffed:<topic>)
-- ARGV: prefix, now_ms, name, skills_csv, proficiency_csv ("topic:level,..."), languages_csv, capacity,
--       presence_expiry_ms, conn_id
-- Returns: {state, call_id}  (the state the agent resumes in; a new or offline agent starts away)
local name = ARGV[3]
local ak = P .. ':agent:' .. name
local old_skills = split(redis.call('HGET', ak, 'skills'))
for _, topic in ipairs(old_skills) do
  redis.call('ZREM', P .. ':avail:' .. topic, name)
  redis.call('SREM', P .. ':staffed:' .. topic, name)
end
redis.call('HSET', ak, 'skills', ARGV[4], 'prof', ARGV[5], 'languages', ARGV[6], 'capacity', ARGV[7],
  'conn', ARGV[9])
redis.call('HSETNX', ak, 'load', 0)
redis.call('HSETNX', ak, 'misses', 0)
redis.call('HSETNX', ak, 'next', '')
redis.call('ZADD', P .. ':presence', tonumber(ARGV[8]), 'agent:' .. name)
redis.call('SADD', P .. ':agents', name)
for _, topic in ipairs(split(ARGV[4])) do redis.call('SADD', P .. ':staffed:' .. topic, name) end
local state = redis.call('HGET', ak, 'state')
if not state or state == 'offline' then
  redis.call('HSET', ak, 'call', '', 'load', 0, 'next', '')
  set_state(name, 'away', 'signed in')
  state = 'away'
else
  refresh_availability(name)
end
return {state, redis.call('HGET', ak, 'call') or ''}
