-- Shared functions, prepended to every routing script at load time (one EVALSHA per transition).
--
-- Data model (all names under the prefix P, see signaling/routing/keys.py):
--   P:call:<id>          hash  id kiosk_id topic language priority score state agent created_ms location
--                              context notes
--   P:call:<id>:declined hash  agent -> ms until which this call is not offered to that agent again
--   P:config             hash  decline_cooldown_ms wrap_up_ms wrap_up_extension_ms (written at startup)
--   P:queue_config:<t>   hash  steps ("after_ms:min_proficiency:any_language,...") aging_ms max_length
--   P:queue:<topic>      zset  call id -> score: (created_ms - priority * aging_ms) * 1024 + seq % 1024,
--                              so higher priority goes first, ageing lifts everyone alike, FIFO within a
--                              priority, and a call released back keeps its score (its place)
--   P:avail:<topic>      zset  agent -> idle-since ms, for agents who may be offered a call now
--   P:agent:<name>       hash  state reason next skills prof languages capacity load call idle_ms misses
--                              extended
--   P:staffed:<topic>    set   agents online with that skill (for wait estimates)
--   P:kiosk:<id>         hash  call location conn
--   P:reservations       zset  call id -> ring deadline ms
--   P:wrapups            zset  agent -> wrap-up deadline ms
--   P:waits              zset  call id -> maximum-wait deadline ms
--   P:answered:<topic>   zset  call id -> answer ms (recent answers, for wait estimates)
--   P:presence           zset  "kiosk:<id>" / "agent:<name>" -> expiry ms
--   P:events             stream of routing events, consumed into the durable history

local P = ARGV[1]
local NOW = tonumber(ARGV[2])  -- '' (the product): Redis's own clock, the one time every server shares
if not NOW then
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local CONFIG = redis.call('HMGET', P .. ':config', 'decline_cooldown_ms', 'wrap_up_ms', 'wrap_up_extension_ms')
local DECLINE_COOLDOWN_MS = tonumber(CONFIG[1] or '30000')
local WRAP_UP_MS = tonumber(CONFIG[2] or '120000')
local WRAP_UP_EXTENSION_MS = tonumber(CONFIG[3] or '60000')
local DEFAULT_PROFICIENCY = 3

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

-- ------------------------------------------------------------------------------------ profiles
local QUEUES, AGENTS = {}, {}

local function queue_config(topic)
  local q = QUEUES[topic]
  if q == nil then
    local raw = redis.call('HMGET', P .. ':queue_config:' .. topic, 'steps', 'aging_ms', 'max_length')
    local steps = {}
    for after, prof, any in string.gmatch(raw[1] or '0:1:0', '(%d+):(%d+):(%d)') do
      steps[#steps + 1] = {tonumber(after), tonumber(prof), any == '1'}
    end
    q = {steps = steps, aging = tonumber(raw[2] or '60000'), max_length = tonumber(raw[3] or '0')}
    QUEUES[topic] = q
  end
  return q
end

local function agent_profile(name)
  local a = AGENTS[name]
  if a == nil then
    local raw = redis.call('HMGET', P .. ':agent:' .. name, 'prof', 'languages')
    local prof, langs, any = {}, {}, false
    for topic, level in string.gmatch(raw[1] or '', '([^,:]+):(%d+)') do prof[topic] = tonumber(level) end
    for _, lang in ipairs(split(raw[2])) do langs[lang] = true; any = true end
    a = {prof = prof, langs = langs, has_langs = any}
    AGENTS[name] = a
  end
  return a
end

-- May this agent take this call now? The queue's escalation step widens with the call's wait.
local function eligible(call, name)
  local q = queue_config(call.topic)
  local step = q.steps[1] or {0, 1, false}
  for _, s in ipairs(q.steps) do
    if s[1] <= NOW - call.created then step = s end
  end
  local a = agent_profile(name)
  if (a.prof[call.topic] or DEFAULT_PROFICIENCY) < step[2] then return false end
  if not step[3] and a.has_langs and not a.langs[call.language] then return false end
  local until_ms = redis.call('HGET', P .. ':call:' .. call.id .. ':declined', name)
  if until_ms and tonumber(until_ms) > NOW then return false end
  return present('agent:' .. name)
end

-- What the agent's console is told of an offer, so the server announces it without reading the call.
local function offer_entry(call_id, name)
  local c = redis.call('HMGET', P .. ':call:' .. call_id, 'kiosk_id', 'location', 'topic', 'language',
    'created_ms', 'context', 'priority', 'notes')
  return {call_id, name, c[1] or '', c[2] or '', c[3] or '', c[4] or '', c[5] or '0', c[6] or '{}',
    c[7] or '0', c[8] or ''}
end

-- An agent's state as the console shows it: {state, reason, call, next, wrap-up deadline ms or '',
-- wrap-up extended ('1' or '')}.
local function agent_status(name)
  local a = redis.call('HMGET', P .. ':agent:' .. name, 'state', 'reason', 'call', 'next', 'extended')
  local deadline = ''
  if a[1] == 'wrap_up' then deadline = redis.call('ZSCORE', P .. ':wrapups', name) or '' end
  return {a[1] or 'offline', a[2] or '', a[3] or '', a[4] or '', deadline, a[5] or ''}
end

local function call_info(call_id)
  local c = redis.call('HMGET', P .. ':call:' .. call_id, 'kiosk_id', 'topic', 'language', 'created_ms')
  return {id = call_id, kiosk = c[1], topic = c[2], language = c[3], created = tonumber(c[4])}
end

-- ------------------------------------------------------------------------------ availability
local function offerable(name)
  local a = redis.call('HMGET', P .. ':agent:' .. name, 'state', 'load', 'capacity', 'conn')
  local state = a[1]
  if state == 'away' or state == 'offline' or state == 'wrap_up' or not state then return false end
  if not a[4] or a[4] == '' then return false end  -- the console dropped: rejoining, not to be rung
  return tonumber(a[2] or '0') < tonumber(a[3] or '1')
end

-- Keep the agent's membership of its topics' availability sets in step with its state and load.
local function refresh_availability(name)
  local ak = P .. ':agent:' .. name
  local topics = split(redis.call('HGET', ak, 'skills'))
  if offerable(name) then
    local idle = redis.call('HGET', ak, 'idle_ms') or NOW
    for _, topic in ipairs(topics) do redis.call('ZADD', P .. ':avail:' .. topic, 'NX', idle, name) end
  else
    for _, topic in ipairs(topics) do redis.call('ZREM', P .. ':avail:' .. topic, name) end
  end
end

local function set_state(name, state, reason)
  local ak = P .. ':agent:' .. name
  if state == 'available' then redis.call('HSET', ak, 'idle_ms', NOW) end
  redis.call('HSET', ak, 'state', state, 'reason', reason or '')
  refresh_availability(name)
end

-- The agent finished a piece of work (an offer gone, a wrap-up filed): go where they asked to go next.
local function settle(name)
  local ak = P .. ':agent:' .. name
  redis.call('ZREM', P .. ':wrapups', name)
  redis.call('HSET', ak, 'call', '', 'extended', '')
  if tonumber(redis.call('HGET', ak, 'load') or '0') > 0 then
    set_state(name, 'in_call', '')  -- still serving another call (capacity above one)
    return
  end
  local next_state = redis.call('HGET', ak, 'next') or ''
  redis.call('HSET', ak, 'next', '')
  if not present('agent:' .. name) then
    set_state(name, 'offline', '')  -- their console is gone (a wrap-up ended by its timer after they left)
  elseif next_state == '' then
    set_state(name, 'available', '')
  else
    local state, _, reason = string.match(next_state, '^(%a+)(:?)(.*)$')
    set_state(name, state, reason)
  end
end

-- ------------------------------------------------------------------------------------- calls
-- End a call: terminal state and reason, every index cleaned. Returns the state before and the agent.
local function finish_call(call_id, state, reason)
  local ck = P .. ':call:' .. call_id
  local fields = redis.call('HMGET', ck, 'state', 'topic', 'kiosk_id', 'agent')
  local prev, topic, kiosk, agent = fields[1], fields[2], fields[3], fields[4]
  redis.call('HSET', ck, 'state', state, 'reason', reason, 'ended_ms', NOW)
  redis.call('ZREM', P .. ':queue:' .. topic, call_id)
  redis.call('ZREM', P .. ':reservations', call_id)
  redis.call('ZREM', P .. ':waits', call_id)
  redis.call('DEL', ck .. ':declined')
  if kiosk and redis.call('HGET', P .. ':kiosk:' .. kiosk, 'call') == call_id then
    redis.call('HDEL', P .. ':kiosk:' .. kiosk, 'call')
  end
  redis.call('EXPIRE', ck, 86400)
  emit(call_id, 'ended', 'state', state, 'reason', reason, 'agent', agent or '')
  return prev, agent or ''
end

local function reserve(call, name, timeout_ms)
  local ck = P .. ':call:' .. call.id
  redis.call('ZREM', P .. ':queue:' .. call.topic, call.id)
  redis.call('HSET', ck, 'state', 'reserved', 'agent', name, 'offered_ms', NOW)
  redis.call('ZADD', P .. ':reservations', NOW + timeout_ms, call.id)
  local ak = P .. ':agent:' .. name
  redis.call('HINCRBY', ak, 'load', 1)
  redis.call('HSET', ak, 'state', 'ringing', 'call', call.id)
  refresh_availability(name)
  emit(call.id, 'reserved', 'agent', name)
end

-- Offer the best waiting calls of one topic to the longest-idle agents who may take them. Calls whose
-- kiosk has gone are abandoned instead. Appends to offers {offer_entry...} and abandoned {{call, kiosk}...}.
local function match_topic(topic, timeout_ms, offers, abandoned)
  local qkey, akey = P .. ':queue:' .. topic, P .. ':avail:' .. topic
  while redis.call('ZCARD', akey) > 0 do
    local calls = redis.call('ZRANGE', qkey, 0, 49)
    if #calls == 0 then break end
    local agents = redis.call('ZRANGE', akey, 0, 49)
    local matched = false
    for _, cid in ipairs(calls) do
      local call = call_info(cid)
      if not present('kiosk:' .. call.kiosk) then
        finish_call(cid, 'abandoned', 'kiosk_disconnected')
        abandoned[#abandoned + 1] = {cid, call.kiosk}
      else
        for _, name in ipairs(agents) do
          if eligible(call, name) then
            reserve(call, name, timeout_ms)
            offers[#offers + 1] = offer_entry(cid, name)
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

-- An agent who can take a call: offer them the best call (highest priority, then oldest) among all
-- their topics that they may take, until they are full.
local function match_agent(name, timeout_ms, offers, abandoned)
  local topics = split(redis.call('HGET', P .. ':agent:' .. name, 'skills'))
  while offerable(name) do
    local best, best_score = nil, nil
    for _, topic in ipairs(topics) do
      local entries = redis.call('ZRANGE', P .. ':queue:' .. topic, 0, 49, 'WITHSCORES')
      for i = 1, #entries, 2 do
        local call = call_info(entries[i])
        local score = tonumber(entries[i + 1])
        if best_score ~= nil and score >= best_score then break end
        if not present('kiosk:' .. call.kiosk) then
          finish_call(call.id, 'abandoned', 'kiosk_disconnected')
          abandoned[#abandoned + 1] = {call.id, call.kiosk}
        elseif eligible(call, name) then
          best, best_score = call, score
          break
        end
      end
    end
    if best == nil then break end
    reserve(best, name, timeout_ms)
    offers[#offers + 1] = offer_entry(best.id, name)
  end
end

-- Put a reserved call back in its queue at its old place; the agent who had it is released.
-- mode: 'decline' | 'timeout' | 'offline' | 'forced'. Returns the agent's new state.
local function release_reservation(call_id, name, mode, max_misses)
  local ck = P .. ':call:' .. call_id
  local c = redis.call('HMGET', ck, 'topic', 'score')
  redis.call('HSET', ck, 'state', 'queued', 'agent', '')
  redis.call('ZADD', P .. ':queue:' .. c[1], tonumber(c[2]), call_id)
  redis.call('ZREM', P .. ':reservations', call_id)
  if mode == 'decline' or mode == 'timeout' then
    redis.call('HSET', ck .. ':declined', name, NOW + DECLINE_COOLDOWN_MS)
    redis.call('PEXPIRE', ck .. ':declined', DECLINE_COOLDOWN_MS)
  end
  emit(call_id, 'released', 'agent', name, 'reason', mode)
  local ak = P .. ':agent:' .. name
  redis.call('HINCRBY', ak, 'load', -1)
  if redis.call('HGET', ak, 'call') == call_id then redis.call('HSET', ak, 'call', '') end
  if mode == 'offline' then
    set_state(name, 'offline', '')
    return 'offline'
  end
  if mode == 'timeout' then
    local misses = redis.call('HINCRBY', ak, 'misses', 1)
    if misses >= max_misses then
      redis.call('HSET', ak, 'misses', 0, 'next', '')
      set_state(name, 'away', 'missed offers')
      return 'away'
    end
  end
  settle(name)
  return redis.call('HGET', ak, 'state')
end

-- The agent's wrap-up of a call ends: filed by the agent, by its timer, or by a supervisor.
local function finish_wrap_up(name, call_id, disposition, notes, how)
  emit(call_id, 'wrapped_up', 'agent', name, 'disposition', disposition, 'notes', notes, 'by', how)
  settle(name)
end

-- End a call from any live state. An answered call completes and its agent goes to wrap-up (with a
-- timer), or offline; an unanswered one is abandoned and a ringing agent is freed.
-- Returns prev state, final state, agent.
local function end_call(call_id, reason, agent_goes_offline)
  local prev = redis.call('HGET', P .. ':call:' .. call_id, 'state')
  local final = 'abandoned'
  if prev == 'connecting' then final = 'completed' end
  local _, agent = finish_call(call_id, final, reason)
  if agent ~= '' and (prev == 'reserved' or prev == 'connecting') then
    local ak = P .. ':agent:' .. agent
    redis.call('HINCRBY', ak, 'load', -1)
    if agent_goes_offline then
      redis.call('HSET', ak, 'call', '', 'next', '')
      set_state(agent, 'offline', '')
    elseif prev == 'connecting' then
      redis.call('HSET', ak, 'call', call_id, 'extended', '')
      redis.call('ZADD', P .. ':wrapups', NOW + WRAP_UP_MS, agent)
      set_state(agent, 'wrap_up', '')
    else
      settle(agent)
    end
  end
  return prev, final, agent
end

local function is_live(state)
  return state == 'queued' or state == 'reserved' or state == 'connecting'
end
