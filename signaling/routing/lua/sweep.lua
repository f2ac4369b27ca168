-- sweep: re-run matching for topics with both waiting calls and available agents (run every second by
-- every server): offers calls again once an agent's decline cooldown is over, and finishes any match that
-- a crashed process did not.
-- KEYS: none (P:queue:<topic>, P:avail:<topic> and everything match_topic touches)
-- ARGV: prefix, now_ms, timeout_ms, topic...
-- Returns: {offers{offer_entry...}, abandoned{{call, kiosk}...}}
local timeout_ms = tonumber(ARGV[3])
local offers, abandoned = {}, {}
for i = 4, #ARGV do
  local topic = ARGV[i]
  if redis.call('ZCARD', P .. ':queue:' .. topic) > 0 and redis.call('ZCARD', P .. ':avail:' .. topic) > 0 then
    match_topic(topic, timeout_ms, offers, abandoned)
  end
end
return {offers, abandoned}
