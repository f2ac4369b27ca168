-- A party connects: resume its session (replay what it missed) or start a new one.
-- ARGV: prefix, address, resume_token ('' for none), last_seq, new_token.
-- Resumes only when the token is the session's and the outbox still holds every message after last_seq;
-- returns {1, current_seq, missed...} then, else {0, current_seq} and new_token becomes the session's.
local prefix, address, token, last, new_token = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local tokens = prefix .. ':resume'
local current = tonumber(redis.call('HGET', prefix .. ':outseq', address) or '0')
if token ~= '' and redis.call('HGET', tokens, address) == token and last <= current then
  local missed = {}
  local expected = last + 1
  for _, framed in ipairs(redis.call('LRANGE', prefix .. ':outbox:' .. address, 0, -1)) do
    local seq = tonumber(string.match(framed, '^{"seq":(%d+),'))
    if seq >= expected then
      if seq ~= expected then break end
      missed[#missed + 1] = framed
      expected = seq + 1
    end
  end
  if expected == current + 1 then
    local reply = {1, current}
    for _, framed in ipairs(missed) do reply[#reply + 1] = framed end
    return reply
  end
end
redis.call('HSET', tokens, address, new_token)
return {0, current}
