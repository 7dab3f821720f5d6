-- reserve: check every counter of one reservation together; commit all of it only if every enforced check
-- passes. One account, one slot, one round trip, Redis time.
--
-- KEYS[1..7]  the account keys (account.lua); KEYS[8..] one sliding-window ZSET per rate check, in order
-- ARGV        reservation id, reservation ttl ms (0: none), #rate, #exposure, #legs, then
--             per rate check:     limit, window ms, cost, enforced (1/0)
--             per exposure check: "<symbol>|<position side>", side, quantity, limit, enforced (1/0), replaced order id or ''
--             per leg:            leg id, "<symbol>|<position side>", side, quantity
-- returns     {committed (1/0), now ms, observed 1, passed 1 (1/0), observed 2, passed 2, ...}
--             rate checks first, then exposure checks, each in the order given

local now = now_ms()
lapse(now)

local rid = ARGV[1]
local ttl = tonumber(ARGV[2])
local n_rate, n_exposure, n_legs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {0, now}
local ok = true
local a = 6

for i = 1, n_rate do
  local key = KEYS[7 + i]
  local limit, window, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key) + cost
  local passed = count <= limit
  if ARGV[a + 3] == '1' and not passed then
    ok = false
  end
  out[#out + 1] = tostring(count)
  out[#out + 1] = passed and 1 or 0
  a = a + 4
end

for _ = 1, n_exposure do
  local k, side = ARGV[a], ARGV[a + 1]
  local quantity, limit = dec_parse(ARGV[a + 2]), dec_parse(ARGV[a + 3])
  local replaces = ARGV[a + 5]
  -- a position held the other way counts negative: selling down a long is not a new short
  local directional = dec_parse(redis.call('HGET', K_POS, k) or '0')
  if side == 'sell' then
    directional = dec_neg(directional)
  end
  local worst = dec_add(directional, dec_parse(redis.call('HGET', K_PEND, k .. '|' .. side) or '0'))
  if replaces ~= '' then
    -- an amend: what the amended order already holds pending is replaced, not added to
    local raw = redis.call('HGET', K_OPEN, replaces)
    if raw then
      local o = cjson.decode(raw)
      if o.c == 1 and o.s == side and (o.sym .. '|' .. o.ps) == k then
        worst = dec_sub(worst, dec_parse(o.rem))
      end
    end
  end
  worst = dec_add(worst, quantity)
  local passed = dec_cmp(worst, limit) <= 0
  if ARGV[a + 4] == '1' and not passed then
    ok = false
  end
  out[#out + 1] = dec_format(worst)
  out[#out + 1] = passed and 1 or 0
  a = a + 6
end

if not ok then
  return out
end

local rate_at = 6
local seq = redis.call('INCR', K_SEQ)
for i = 1, n_rate do
  local key = KEYS[7 + i]
  local window, cost = tonumber(ARGV[rate_at + 1]), tonumber(ARGV[rate_at + 2])
  local members = {}
  for j = 1, cost do
    members[#members + 1] = now
    members[#members + 1] = string.format('%d:%d:%d', seq, i, j)
  end
  if cost > 0 then
    redis.call('ZADD', key, unpack(members))
  end
  -- the newest member leaves the window `window` ms from now: then the key holds nothing worth keeping
  redis.call('PEXPIRE', key, window)
  rate_at = rate_at + 4
end

if n_legs > 0 then
  local old = redis.call('HGET', K_RESV, rid)
  if old then -- the same reservation id again replaces its legs, never adds to them
    for _, leg in pairs(cjson.decode(old)) do
      pend_add(leg.k .. '|' .. leg.s, dec_neg(dec_parse(leg.q)))
    end
  end
  local legs = {}
  for _ = 1, n_legs do
    legs[ARGV[a]] = {k = ARGV[a + 1], s = ARGV[a + 2], q = dec_format(dec_parse(ARGV[a + 3]))}
    a = a + 4
  end
  for _, leg in pairs(legs) do
    pend_add(leg.k .. '|' .. leg.s, dec_parse(leg.q))
  end
  redis.call('HSET', K_RESV, rid, cjson.encode(legs))
  if ttl > 0 then
    redis.call('ZADD', K_LAPSE, now + ttl, rid)
  else
    redis.call('ZREM', K_LAPSE, rid)
  end
end

out[1] = 1
return out
