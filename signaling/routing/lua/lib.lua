-- Shared functions, prepended to every routing script at load time (one EVALSHA per transition).
--
-- Data model (all names under the prefix P, see signaling/routing/keys.py):
--   P:call:<id>       hash  id kiosk_id topic language priority seq state agent created_ms location context
--   P:call:<id>:declined hash agent -> ms until which this call is not offered to that agent again
--   P:config          hash  decline_cooldown_ms (written by every server at startup)
--   P:queue:<topic>   zset  call id -> seq (FIFO; priority folds into the score later)
--   P:avail:<topic>   zset  agent -> idle-since ms (longest idle first)
--   P:agent:<name>    hash  state reason skills languages capacity load call idle_ms misses
--   P:kiosk:<id>      hash  call location
--   P:reservations    zset  call id -> deadline ms
--   P:presence        zset  "kiosk:<id>" / "agent:<name>" -> expiry ms
--   P:events          stream of routing events, consumed into the durable history

local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local DECLINE_COOLDOWN_MS = tonumber(redis.call('HGET', P .. ':config', 'decline_cooldown_ms') or '30000')

local function emit(call_id, kind, ...)
  redis.call('XADD', P .. ':events', 'MAXLEN', '~', 1000000, '*',
    'call_id', call_id, 'kind', kind, 'at_ms', NOW, ...)
end

local function split(s)
  local out = {}
  if s then
    for w in string.gmatch(s, '[^,]+') do out[#out + 1] = w end
  end
  return out
end

local function present(member)
  local exp = redis.call('ZSCORE', P .. ':presence', member)
  return exp and tonumber(exp) > NOW
end

local function agent_unavailable(name)
  local ak = P .. ':agent:' .. name
  for _, topic in ipairs(split(redis.call('HGET', ak, 'skills'))) do
    redis.call('ZREM', P .. ':avail:' .. topic, name)
  end
end

local function agent_make_available(name)
  local ak = P .. ':agent:' .. name
  redis.call('HSET', ak, 'state', 'available', 'reason', '', 'idle_ms', NOW, 'call', '')
  for _, topic in ipairs(split(redis.call('HGET', ak, 'skills'))) do
    redis.call('ZADD', P .. ':avail:' .. topic, NOW, name)
  end
end

-- End a call that never reached an agent's accept (or did): terminal state, reason, clean every index.
local function finish_call(call_id, state, reason)
  local ck = P .. ':call:' .. call_id
  local fields = redis.call('HMGET', ck, 'state', 'topic', 'kiosk_id', 'agent')
  local prev, topic, kiosk, agent = fields[1], fields[2], fields[3], fields[4]
  redis.call('HSET', ck, 'state', state, 'reason', reason, 'ended_ms', NOW)
  redis.call('ZREM', P .. ':queue:' .. topic, call_id)
  redis.call('ZREM', P .. ':reservations', call_id)
  redis.call('DEL', ck .. ':declined')
  if kiosk and redis.call('HGET', P .. ':kiosk:' .. kiosk, 'call') == call_id then
    redis.call('HDEL', P .. ':kiosk:' .. kiosk, 'call')
  end
  redis.call('EXPIRE', ck, 86400)
  emit(call_id, 'ended', 'state', state, 'reason', reason, 'agent', agent or '')
  return prev, agent or ''
end

local function reserve(call_id, name, timeout_ms)
  local ck = P .. ':call:' .. call_id
  local topic = redis.call('HGET', ck, 'topic')
  redis.call('ZREM', P .. ':queue:' .. topic, call_id)
  redis.call('HSET', ck, 'state', 'reserved', 'agent', name, 'offered_ms', NOW)
  redis.call('ZADD', P .. ':reservations', NOW + timeout_ms, call_id)
  local ak = P .. ':agent:' .. name
  local load = redis.call('HINCRBY', ak, 'load', 1)
  redis.call('HSET', ak, 'state', 'ringing', 'call', call_id)
  if load >= tonumber(redis.call('HGET', ak, 'capacity') or '1') then
    agent_unavailable(name)
  end
  emit(call_id, 'reserved', 'agent', name)
end

-- Offer the oldest waiting calls of one topic to the longest-idle available agents who may take them.
-- Calls whose kiosk has gone are abandoned instead of offered. Returns a flat list {call, agent, ...}
-- of new reservations and a list of calls abandoned on the way.
local function match_topic(topic, timeout_ms, offers, abandoned)
  local qkey = P .. ':queue:' .. topic
  local akey = P .. ':avail:' .. topic
  while redis.call('ZCARD', akey) > 0 do
    local calls = redis.call('ZRANGE', qkey, 0, 49)
    if #calls == 0 then break end
    local agents = redis.call('ZRANGE', akey, 0, 49)
    local matched = false
    for _, cid in ipairs(calls) do
      local ck = P .. ':call:' .. cid
      local kiosk = redis.call('HGET', ck, 'kiosk_id')
      if not present('kiosk:' .. kiosk) then
        finish_call(cid, 'abandoned', 'kiosk_disconnected')
        abandoned[#abandoned + 1] = cid
      else
        for _, name in ipairs(agents) do
          local until_ms = redis.call('HGET', ck .. ':declined', name)
          if (not until_ms or tonumber(until_ms) <= NOW) and present('agent:' .. name) then
            reserve(cid, name, timeout_ms)
            offers[#offers + 1] = cid
            offers[#offers + 1] = name
            matched = true
            break
          end
        end
        if matched then break end
      end
    end
    if not matched then break end
  end
end

local function match_agent_topics(name, timeout_ms, offers, abandoned)
  for _, topic in ipairs(split(redis.call('HGET', P .. ':agent:' .. name, 'skills'))) do
    match_topic(topic, timeout_ms, offers, abandoned)
  end
end

-- Put a reserved call back in its queue at its old place; the agent who had it is released.
-- mode: 'decline' | 'timeout' | 'offline'. Returns the agent's new state.
local function release_reservation(call_id, name, mode, max_misses)
  local ck = P .. ':call:' .. call_id
  local c = redis.call('HMGET', ck, 'topic', 'seq')
  redis.call('HSET', ck, 'state', 'queued', 'agent', '')
  redis.call('HSET', ck .. ':declined', name, NOW + DECLINE_COOLDOWN_MS)
  redis.call('PEXPIRE', ck .. ':declined', DECLINE_COOLDOWN_MS)
  redis.call('ZADD', P .. ':queue:' .. c[1], tonumber(c[2]), call_id)
  redis.call('ZREM', P .. ':reservations', call_id)
  emit(call_id, 'released', 'agent', name, 'reason', mode)
  local ak = P .. ':agent:' .. name
  redis.call('HINCRBY', ak, 'load', -1)
  redis.call('HSET', ak, 'call', '')
  if mode == 'offline' then
    agent_unavailable(name)
    redis.call('HSET', ak, 'state', 'offline', 'reason', '')
    return 'offline'
  end
  if mode == 'timeout' then
    local misses = redis.call('HINCRBY', ak, 'misses', 1)
    if misses >= max_misses then
      agent_unavailable(name)
      redis.call('HSET', ak, 'state', 'away', 'reason', 'missed offers', 'misses', 0)
      return 'away'
    end
  end
  agent_make_available(name)
  return 'available'
end

-- End a call from any live state. An answered call completes and its agent goes to wrap-up (or offline);
-- an unanswered one is abandoned and a ringing agent is freed. Returns prev state, new state, agent.
local function end_call(call_id, reason, agent_goes_offline)
  local ck = P .. ':call:' .. call_id
  local prev = redis.call('HGET', ck, 'state')
  local final = 'abandoned'
  if prev == 'connecting' then final = 'completed' end
  local _, agent = finish_call(call_id, final, reason)
  if agent ~= '' and (prev == 'reserved' or prev == 'connecting') then
    local ak = P .. ':agent:' .. agent
    redis.call('HINCRBY', ak, 'load', -1)
    if agent_goes_offline then
      agent_unavailable(agent)
      redis.call('HSET', ak, 'state', 'offline', 'call', '')
    elseif prev == 'connecting' then
      redis.call('HSET', ak, 'state', 'wrap_up', 'call', call_id)
    else
      agent_make_available(agent)
    end
  end
  return prev, final, agent
end

local function is_live(state)
  return state == 'queued' or state == 'reserved' or state == 'connecting'
end
