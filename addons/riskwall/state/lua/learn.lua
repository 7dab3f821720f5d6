-- learn: apply what one venue response taught about one account, in MemoryStore's order: order updates,
-- position reports, open-order snapshots, closed orders, accepted amends, position modes, then forget final
-- orders older than the replay memory.
--
-- KEYS[1..11] the account keys (account.lua)
-- ARGV[1]     JSON {orders = [update...], positions = [{sym?, rows = [[symbol, position side, qty]...]}...],
--                   snapshots = [{sym?, kd, orders = [update...]}...], closed = [order id...],
--                   amended = [{l = leg id of an amend the venue accepted, t = the order's new total size?}...],
--                   modes = [[mode key, mode]...]}
--             update = {id, sym, ps, side, orig, exe, final, ro, kd, rid?, cid?}; every amount is decimal text;
--             kd is the kind of order ("order", "algo"): a listing of one kind says nothing about another
-- ARGV[2]     how long a final order is remembered (ms)
-- ARGV[3..4]  optional: a reservation id of this account and its hold ms, released after the learning (release.lua)

local now = now_ms()
lapse(now)
local facts = cjson.decode(ARGV[1])
local final_ms = tonumber(ARGV[2])

for _, u in ipairs(facts.orders) do
  apply_order(u, now, final_ms)
end

for _, report in ipairs(facts.positions) do
  if not report.sym then -- an account-wide report: whatever it does not list is flat
    for _, field in ipairs(redis.call('HKEYS', K_POS)) do
      redis.call('HSET', K_POS, field, '0')
    end
  end
  for _, row in ipairs(report.rows) do
    redis.call('HSET', K_POS, row[1] .. '|' .. row[2], dec_format(dec_parse(row[3])))
  end
end

for _, snapshot in ipairs(facts.snapshots) do
  local listed = {}
  for _, u in ipairs(snapshot.orders) do
    listed[u.id] = true
  end
  local open = redis.call('HGETALL', K_OPEN)
  for i = 1, #open, 2 do
    local id = open[i]
    local o = cjson.decode(open[i + 1])
    if not listed[id] and o.kd == snapshot.kd and (not snapshot.sym or o.sym == snapshot.sym) then
      -- gone from the book; its fills, if any, arrive with the next position report
      finalize(id, o, now, final_ms, true)
    end
  end
  for _, u in ipairs(snapshot.orders) do
    apply_order(u, now, final_ms)
  end
end

-- the venue confirmed these orders gone without saying how much filled: pending ends, fills come with
-- the next position report
for _, id in ipairs(facts.closed) do
  local raw = redis.call('HGET', K_OPEN, id)
  if raw then
    finalize(id, cjson.decode(raw), now, final_ms)
  end
end

-- amends the venue accepted, with the order's new total size where the venue said it
for _, accepted in ipairs(facts.amended or {}) do
  confirm_amend(accepted.l, now, accepted.t)
end

-- the account's position modes, as the venue reported or accepted them
for _, mode in ipairs(facts.modes or {}) do
  redis.call('HSET', K_MODE, mode[1], mode[2])
end

-- the answer's reservation, when it is this account's: released in the same script as what the answer taught
if ARGV[3] then
  release(ARGV[3], tonumber(ARGV[4]), now)
end

redis.call('ZREMRANGEBYSCORE', K_DONE, '-inf', '(' .. string.format('%d', now - final_ms))
return now
