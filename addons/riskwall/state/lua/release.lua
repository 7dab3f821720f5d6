-- release: drop what is left of a reservation now, or let it lapse after a hold (no answer came, so the
-- order may exist; the bot's next open-orders or position query will show it).
--
-- KEYS[1..8]  the account keys (account.lua)
-- ARGV        reservation id, hold ms (0: now)

local now = now_ms()
lapse(now)
local rid, hold = ARGV[1], tonumber(ARGV[2])
if hold <= 0 then
  legs_drop(rid, now)
elseif redis.call('HEXISTS', K_RESV, rid) == 1 then
  redis.call('ZADD', K_LAPSE, now + hold, rid)
end
return now
