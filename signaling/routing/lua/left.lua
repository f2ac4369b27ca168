-- left: a kiosk's or agent's socket dropped without a goodbye (no close frame, a network failure, a
-- server that shut down). Everything is kept for the reconnect grace period: the kiosk's queue place or
-- call, the agent's state, reservation or call. Presence now runs out at NOW + grace, and then the reaper
-- runs `gone` as for any vanished party; an agent is not offered new calls meanwhile.
-- KEYS: none (P:kiosk:<id> or P:agent:<name>, P:presence, P:avail:<topic>)
-- ARGV: prefix, now_ms, kind ('kiosk'|'agent'), id, conn_id, grace_ms
-- Returns: {'ok'} | {'superseded'} when a newer connection of the same party is live
local kind, id, conn, grace_ms = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local hk = P .. ':' .. kind .. ':' .. id
local current = redis.call('HGET', hk, 'conn')
if not current or current ~= conn then return {'superseded'} end
redis.call('HSET', hk, 'conn', '')
redis.call('ZADD', P .. ':presence', NOW + grace_ms, kind .. ':' .. id)
if kind == 'agent' then refresh_availability(id) end
return {'ok'}
