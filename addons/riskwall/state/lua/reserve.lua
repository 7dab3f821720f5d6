-- reserve: check every counter of one reservation together; commit all of it only if every enforced check
-- passes. One account, one slot, one round trip, Redis time.
--
-- KEYS[1..8]  the account keys (account.lua); KEYS[9..] one sliding-window ZSET per rate check, in order, then
--             one STRING per duplicate check (the last admission of its fingerprint: "<ms>|<reservation id>")
-- ARGV        reservation id, reservation ttl ms (0: none), #rate, #exposure, #legs, #reductions, #duplicates,
--             #open-orders checks, then
--             per rate check:      limit, window ms, cost, enforced (1/0)
--             per exposure check:  "<symbol>|<position side>", side, quantity, limit, enforced (1/0), replaced order id or ''
--             per reduction check: "<symbol>|<position side>", side, quantity, replaced order id or ''
--             per duplicate check: window ms, enforced (1/0)
--             per open-orders check: symbol ('' for the whole account), limit, orders it adds, enforced (1/0)
--             per leg:             leg id, "<symbol>|<position side>", side, quantity, reducing (1/0), opens an
--                                  order (1/0: counted in K_CNT until taken by its order, dropped or lapsed)
-- returns     {committed (1/0), now ms, observed 1, passed 1 (1/0), observed 2, passed 2, ...}
--             rate checks first, then exposure checks, then reduction checks (observed: what was reducible), each
--             in the order given; then per duplicate check four values: identical orders in the window counting
--             this one (1, or 2), passed (1/0), how long ago the earlier one was admitted (ms, or ''), its
--             reservation id (or ''); then per open-orders check: open orders in its scope had it been admitted
--             (K_CNT's counter, less the legs this reservation id holds already, plus what it adds), passed (1/0)

local now = now_ms()
lapse(now)

local rid = ARGV[1]
local ttl = tonumber(ARGV[2])
local n_rate, n_exposure, n_legs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n_reductions, n_duplicates, n_open = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local out = {0, now}
local ok = true
local a = 9

-- what pends in (k, side), less what an amended order had there: {adding, reducing}
local function pending_without(k, side, replaces)
  local adding, reducing = pend_get(k .. '|' .. side), pend_get(k .. '|' .. side .. '|r')
  if replaces ~= '' then
    local raw = redis.call('HGET', K_OPEN, replaces)
    if raw then
      local o = cjson.decode(raw)
      if o.s == side and (o.sym .. '|' .. o.ps) == k then
        if o.c == 1 then
          adding = dec_sub(adding, dec_parse(o.rem))
        else
          reducing = dec_sub(reducing, dec_parse(o.rem))
        end
      end
    end
  end
  return adding, reducing
end

for i = 1, n_rate do
  local key = KEYS[8 + i]
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
  local adding, reducing = pending_without(k, side, ARGV[a + 5])
  local worst = dec_add(worst_case(k, side, adding, reducing), quantity)
  local passed = dec_cmp(worst, limit) <= 0
  if ARGV[a + 4] == '1' and not passed then
    ok = false
  end
  out[#out + 1] = dec_format(worst)
  out[#out + 1] = passed and 1 or 0
  a = a + 6
end

for _ = 1, n_reductions do
  local k, side, quantity = ARGV[a], ARGV[a + 1], dec_parse(ARGV[a + 2])
  local adding, reducing = pending_without(k, side, ARGV[a + 3])
  local allowance = reducible(k, side, adding, reducing)
  local passed = dec_cmp(quantity, allowance) <= 0
  if not passed then
    ok = false
  end
  out[#out + 1] = dec_format(allowance)
  out[#out + 1] = passed and 1 or 0
  a = a + 4
end

-- a fingerprint admitted within the window is a duplicate, unless this same reservation recorded it (the same
-- decision reserved again); the key's PX drops it once the window has passed
local duplicates = {}
for i = 1, n_duplicates do
  local key, window = KEYS[8 + n_rate + i], tonumber(ARGV[a])
  local raw = redis.call('GET', key)
  local observed, passed, ago, earlier = '1', true, '', ''
  if raw then
    local at, by = string.match(raw, '^(%d+)|(.*)$')
    at = tonumber(at)
    if at and by ~= rid and now - at < window then
      observed, passed, ago, earlier = '2', false, string.format('%d', now - at), by
    end
  end
  if ARGV[a + 1] == '1' and not passed then
    ok = false
  end
  out[#out + 1] = observed
  out[#out + 1] = passed and 1 or 0
  out[#out + 1] = ago
  out[#out + 1] = earlier
  duplicates[i] = {key, window}
  a = a + 2
end

-- open orders: the counter (O(1)), less the legs this same reservation id holds already (replaced on commit)
local held = nil
for _ = 1, n_open do
  local sym, limit, adding = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local count = tonumber(redis.call('HGET', K_CNT, sym == '' and '*' or 's|' .. sym) or '0')
  if held == nil then
    local old = redis.call('HGET', K_RESV, rid)
    held = old and cjson.decode(old) or {}
  end
  for _, leg in pairs(held) do
    if leg.n == 1 and (sym == '' or leg_symbol(leg) == sym) then
      count = count - 1
    end
  end
  count = math.max(count, 0) + adding
  local passed = count <= limit
  if ARGV[a + 3] == '1' and not passed then
    ok = false
  end
  out[#out + 1] = tostring(count)
  out[#out + 1] = passed and 1 or 0
  a = a + 4
end

if not ok then
  return out
end

local rate_at = 9
local seq = redis.call('INCR', K_SEQ)
for i = 1, n_rate do
  local key = KEYS[8 + i]
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
      pend_add(leg_field(leg), dec_neg(dec_parse(leg.q)))
      if leg.n == 1 then
        cnt_add(leg_symbol(leg), -1)
      end
    end
  end
  local legs = {}
  for _ = 1, n_legs do
    legs[ARGV[a]] = {k = ARGV[a + 1], s = ARGV[a + 2], q = dec_format(dec_parse(ARGV[a + 3])),
                     r = tonumber(ARGV[a + 4]), n = tonumber(ARGV[a + 5])}
    a = a + 6
  end
  for _, leg in pairs(legs) do
    pend_add(leg_field(leg), dec_parse(leg.q))
    if leg.n == 1 then
      cnt_add(leg_symbol(leg), 1)
    end
  end
  redis.call('HSET', K_RESV, rid, cjson.encode(legs))
  if ttl > 0 then
    redis.call('ZADD', K_LAPSE, now + ttl, rid)
  else
    redis.call('ZREM', K_LAPSE, rid)
  end
end

for _, duplicate in ipairs(duplicates) do
  redis.call('SET', duplicate[1], string.format('%d|%s', now, rid), 'PX', duplicate[2])
end

out[1] = 1
return out
