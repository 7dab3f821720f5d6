-- exposure: positions and pending exposure of one account, for status output (lapses overdue holds first).
--
-- KEYS[1..13] the account keys (account.lua)
-- returns     {flat HGETALL of positions, flat HGETALL of pending sums, "<symbol>|<position side>" of every
--              reservation leg and every non-final order}

local now = now_ms()
lapse(now)
local keys = {}
local resv = redis.call('HGETALL', K_RESV)
for i = 2, #resv, 2 do
  for _, leg in pairs(cjson.decode(resv[i])) do
    keys[#keys + 1] = leg.k
  end
end
local open = redis.call('HGETALL', K_OPEN)
for i = 2, #open, 2 do
  local o = cjson.decode(open[i])
  keys[#keys + 1] = o.sym .. '|' .. o.ps
end
return {redis.call('HGETALL', K_POS), redis.call('HGETALL', K_PEND), keys}
