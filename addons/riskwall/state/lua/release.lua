-- release: drop what is left of a reservation now, or let it lapse after a hold (no answer came, so the
-- order may exist; the bot's next open-orders or position query will show it).
--
-- KEYS[1..13] the account keys (account.lua)
-- ARGV        reservation id, hold ms (0: now)

local now = now_ms()
lapse(now)
release(ARGV[1], tonumber(ARGV[2]), now)
return now
