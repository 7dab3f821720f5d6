-- exposure: positions and pending exposure of one account, for status output (lapses overdue holds first).
--
-- KEYS[1..14] the account keys (account.lua)
-- returns     {flat HGETALL of positions, flat HGETALL of pending sums}: the sums are kept in step with every
--             reservation leg and non-final order, so they name every position with something pending; reading
--             the legs and orders themselves would hold Redis (and every sidecar's orders behind it) for a time
--             that grows with the book

local now = now_ms()
lapse(now)
return {redis.call('HGETALL', K_POS), redis.call('HGETALL', K_PEND)}
