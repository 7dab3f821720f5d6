-- reserve: check every counter of one reservation together; commit all of it only if every enforced check
-- passes. One account, one slot, one round trip, Redis time.
--
-- KEYS[1..14] the account keys (account.lua); KEYS[15..] one sliding-window ZSET per rate check, in order, then
--             one STRING per duplicate check (the last admission of its fingerprint: "<ms>|<reservation id>"), then
--             per gross check, per other venue it sums, that venue's account `:pos` and `:pend` (read only)
-- ARGV        reservation id, reservation ttl ms (0: none), #rate, #exposure, #legs, #reductions, #duplicates,
--             #open-orders checks, #notional checks, #gross checks, the account state's generation this sidecar
--             saw last ('' for none), a fresh generation to write when the account has none, then
--             per rate check:      limit, window ms, cost, enforced (1/0)
--             per exposure check:  "<symbol>|<position side>", side, quantity, limit, enforced (1/0), replaced order
--                                  id or ''
--             per reduction check: "<symbol>|<position side>", side, quantity, replaced order id or ''
--             per duplicate check: window ms, enforced (1/0)
--             per open-orders check: symbol ('' for the whole account), limit, orders it adds, enforced (1/0)
--             per notional check: budget key, limit, notional it adds, enforced (1/0), #replaced orders, their ids
--             per gross check:    limit, enforced (1/0), #prices, then symbol and price each, #legs, then per leg
--                                 "<symbol>|<position side>", side, quantity, reducing (1/0), replaced order id or
--                                 '', #other venues, then per other venue #prices, then symbol and price each
--             per leg:             leg id, "<symbol>|<position side>", side, quantity, reducing (1/0), opens an
--                                  order (1/0: counted in K_CNT until taken by its order, dropped or lapsed),
--                                  the order an amend replaces ('' for a new order), the kind of listing that
--                                  shows its order (PendingEntry.kind), the kind of the book a conditional order's
--                                  triggered order lands in ('' for any other: PendingEntry.triggers_into),
--                                  price a unit ('' when charged to no budget), #budgets, the budget keys
-- returns     {committed (1/0), now ms, observed 1, passed 1 (1/0), observed 2, passed 2, ...}
--             rate checks first, then exposure checks, then reduction checks (observed: what was reducible), each
--             in the order given; then per duplicate check four values: identical orders in the window counting
--             this one (1, or 2), passed (1/0), how long ago the earlier one was admitted (ms, or ''), its
--             reservation id (or ''); then per open-orders check: open orders in its scope had it been admitted
--             (K_CNT's counter, less the legs this reservation id holds already, plus what it adds), passed (1/0);
--             then per notional check: the day's notional in the budget had it been admitted (K_DAY's total, less
--             what this reservation id's legs and the replaced orders' open parts hold there, plus what it adds),
--             passed (1/0); then per gross check: the account's gross exposure had it been admitted (over the
--             positions priced), passed (1/0), a symbol with exposure and no price ('' when none); last, the
--             account state's generation.
--             {-1, now ms, generation or ''} instead, committing nothing, when the sidecar saw a generation and the
--             store holds another or none: it lost the account's state (a restart without persistence, a FLUSH,
--             a failover to an empty replica), and every limit would count from nothing

local now = now_ms()
lapse(now)

local rid = ARGV[1]
local ttl = tonumber(ARGV[2])
local n_rate, n_exposure, n_legs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n_reductions, n_duplicates, n_open = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local n_notional, n_gross = tonumber(ARGV[9]), tonumber(ARGV[10])
local day = math.floor(now / DAY_MS)
local out = {0, now}
local ok = true
local a = 13

local seen_gen, gen = ARGV[11], redis.call('GET', K_GEN)
if gen and (seen_gen == '' or gen == seen_gen) then
  -- the state this sidecar counted on (or an account it meets for the first time)
elseif seen_gen ~= '' then
  return {-1, now, gen or ''}
else
  gen = ARGV[12]
  redis.call('SET', K_GEN, gen)
end

-- a check's observed value and whether it passed go to the answer; an enforced check ('1') that failed refuses all
local function answer(observed, passed, enforced)
  if enforced == '1' and not passed then
    ok = false
  end
  out[#out + 1] = observed
  out[#out + 1] = passed and 1 or 0
end

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
  local key = KEYS[N_ACCOUNT_KEYS + i]
  local limit, window, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key) + cost
  local passed = count <= limit
  answer(tostring(count), passed, ARGV[a + 3])
  a = a + 4
end

for _ = 1, n_exposure do
  local k, side = ARGV[a], ARGV[a + 1]
  local quantity, limit = dec_parse(ARGV[a + 2]), dec_parse(ARGV[a + 3])
  local adding, reducing = pending_without(k, side, ARGV[a + 5])
  local worst = dec_add(worst_case(k, side, adding, reducing), quantity)
  local passed = dec_cmp(worst, limit) <= 0
  answer(dec_format(worst), passed, ARGV[a + 4])
  a = a + 6
end

for _ = 1, n_reductions do
  local k, side, quantity = ARGV[a], ARGV[a + 1], dec_parse(ARGV[a + 2])
  local adding, reducing = pending_without(k, side, ARGV[a + 3])
  local allowance = reducible(k, side, adding, reducing)
  local passed = dec_cmp(quantity, allowance) <= 0
  answer(dec_format(allowance), passed, '1')
  a = a + 4
end

-- a fingerprint admitted within the window is a duplicate, unless this same reservation recorded it (the same
-- decision reserved again); the key's PX drops it once the window has passed
local duplicates = {}
for i = 1, n_duplicates do
  local key, window = KEYS[N_ACCOUNT_KEYS + n_rate + i], tonumber(ARGV[a])
  local raw = redis.call('GET', key)
  local observed, passed, ago, earlier = '1', true, '', ''
  if raw then
    local at, by = string.match(raw, '^(%d+)|(.*)$')
    at = tonumber(at)
    if at and by ~= rid and now - at < window then
      observed, passed, ago, earlier = '2', false, string.format('%d', now - at), by
    end
  end
  answer(observed, passed, ARGV[a + 1])
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
  answer(tostring(count), passed, ARGV[a + 3])
  a = a + 4
end

-- daily notional: the budget's total today, less what this same reservation id and the orders it amends hold there
local function holds(holder, key)
  if holder.b == nil or holder.p == nil or holder.d ~= day then
    return false
  end
  for _, b in ipairs(holder.b) do
    if b == key then
      return true
    end
  end
  return false
end
for _ = 1, n_notional do
  local key, limit, adding = ARGV[a], dec_parse(ARGV[a + 1]), dec_parse(ARGV[a + 2])
  local total = budget_get(key, day)
  if held == nil then
    local old = redis.call('HGET', K_RESV, rid)
    held = old and cjson.decode(old) or {}
  end
  for _, leg in pairs(held) do
    if holds(leg, key) then
      total = dec_sub(total, dec_mul_up(dec_parse(leg.q), dec_parse(leg.p)))
    end
  end
  local n_replaced = tonumber(ARGV[a + 4])
  for j = 1, n_replaced do
    local raw = redis.call('HGET', K_OPEN, ARGV[a + 4 + j])
    if raw then
      local o = cjson.decode(raw)
      if holds(o, key) then
        total = dec_sub(total, dec_mul_up(dec_parse(o.rem), dec_parse(o.p)))
      end
    end
  end
  total = dec_add(total, adding)
  local passed = dec_cmp(total, limit) <= 0
  answer(dec_format(total), passed, ARGV[a + 3])
  a = a + 5 + n_replaced
end

-- gross exposure: every position of the account at its worst case either way (model.gross_quantity) × price,
-- with this reservation's legs pending (an amend's in place of the order it replaces); O(positions)
local function pending_field(k, side, reducing)
  return k .. '|' .. side .. (reducing and '|r' or '')
end
local gross_key = N_ACCOUNT_KEYS + n_rate + n_duplicates + 1
for _ = 1, n_gross do
  local limit, enforced = dec_parse(ARGV[a]), ARGV[a + 1]
  local prices = {}
  local n_prices = tonumber(ARGV[a + 2])
  a = a + 3
  for _ = 1, n_prices do
    prices[ARGV[a]] = dec_parse(ARGV[a + 1])
    a = a + 2
  end
  local pend, keys = {}, {}
  local flat = redis.call('HGETALL', K_PEND)
  for i = 1, #flat, 2 do
    pend[flat[i]] = dec_parse(flat[i + 1])
    local k = string.match((string.gsub(flat[i], '|r$', '')), '^(.*)|[^|]*$')
    keys[k] = true
  end
  flat = redis.call('HGETALL', K_POS)
  for i = 1, #flat, 2 do
    keys[flat[i]] = true
  end
  local function shift(field, delta)
    pend[field] = dec_add(pend[field] or DEC_ZERO, delta)
  end
  if held == nil then
    local old = redis.call('HGET', K_RESV, rid)
    held = old and cjson.decode(old) or {}
  end
  for _, leg in pairs(held) do -- legs this same reservation holds already are replaced on commit
    shift(leg_field(leg), dec_neg(dec_parse(leg.q)))
  end
  local before = {}
  for field, value in pairs(pend) do
    before[field] = value
  end
  local n_legs_here = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n_legs_here do
    local k, side, quantity, reducing, replaces = ARGV[a], ARGV[a + 1], dec_parse(ARGV[a + 2]), ARGV[a + 3] == '1',
                                                  ARGV[a + 4]
    if replaces ~= '' then
      local raw = redis.call('HGET', K_OPEN, replaces)
      if raw then
        local o = cjson.decode(raw)
        if o.s == side and (o.sym .. '|' .. o.ps) == k then
          shift(order_field(o), dec_neg(dec_parse(o.rem)))
        end
      end
    end
    shift(pending_field(k, side, reducing), quantity)
    keys[k] = true
    a = a + 5
  end
  -- Σ over `ks` of each position's larger worst case (model.gross_quantity) × its symbol's price in `priced`, and
  -- the first symbol (by name) with exposure and no price
  local function gross_sum(ks, position_of, sums, priced)
    local sum, missing = DEC_ZERO, ''
    for k in pairs(ks) do
      local position = position_of(k)
      local buy = worst_case_at(position, 'buy', sums[pending_field(k, 'buy', false)] or DEC_ZERO,
                                sums[pending_field(k, 'buy', true)] or DEC_ZERO)
      local sell = worst_case_at(position, 'sell', sums[pending_field(k, 'sell', false)] or DEC_ZERO,
                                 sums[pending_field(k, 'sell', true)] or DEC_ZERO)
      local quantity = dec_cmp(buy, sell) >= 0 and buy or sell
      if quantity.s > 0 then
        local symbol = string.match(k, '^(.*)|[^|]*$') or k
        local price = priced[symbol]
        if price == nil then
          if missing == '' or symbol < missing then
            missing = symbol
          end
        else
          sum = dec_add(sum, dec_mul_up(quantity, price))
        end
      end
    end
    return sum, missing
  end
  local function own_position(k)
    return dec_parse(redis.call('HGET', K_POS, k) or '0')
  end
  local total, unpriced = gross_sum(keys, own_position, pend, prices)
  local base = (gross_sum(keys, own_position, before, prices))
  -- the account's positions on its other venues (`per: account`): read only, no leg of this reservation is there
  local n_others = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n_others do
    local other_prices = {}
    local n_other_prices = tonumber(ARGV[a])
    a = a + 1
    for _ = 1, n_other_prices do
      other_prices[ARGV[a]] = dec_parse(ARGV[a + 1])
      a = a + 2
    end
    local positions, sums, other_keys = {}, {}, {}
    local flat_pend = redis.call('HGETALL', KEYS[gross_key + 1])
    for i = 1, #flat_pend, 2 do
      sums[flat_pend[i]] = dec_parse(flat_pend[i + 1])
      other_keys[string.match((string.gsub(flat_pend[i], '|r$', '')), '^(.*)|[^|]*$')] = true
    end
    local flat_pos = redis.call('HGETALL', KEYS[gross_key])
    for i = 1, #flat_pos, 2 do
      positions[flat_pos[i]] = dec_parse(flat_pos[i + 1])
      other_keys[flat_pos[i]] = true
    end
    gross_key = gross_key + 2
    local elsewhere, missing = gross_sum(other_keys, function(k) return positions[k] or DEC_ZERO end, sums,
                                         other_prices)
    total, base = dec_add(total, elsewhere), dec_add(base, elsewhere)
    if missing ~= '' and (unpriced == '' or missing < unpriced) then
      unpriced = missing
    end
  end
  -- within the limit, or no larger than without this reservation (an order that adds no exposure, such as a
  -- plain close, is never trapped by prices that moved)
  local passed = unpriced == '' and (dec_cmp(total, limit) <= 0 or dec_cmp(total, base) <= 0)
  answer(dec_format(total), passed, enforced)
  out[#out + 1] = unpriced
end

if not ok then
  out[#out + 1] = gen
  return out
end

local rate_at = 13
local seq = redis.call('INCR', K_SEQ)
for i = 1, n_rate do
  local key = KEYS[N_ACCOUNT_KEYS + i]
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
      budget_spend(leg, dec_neg(dec_parse(leg.q)), now)
    end
  end
  local legs = {}
  for _ = 1, n_legs do
    local leg = {k = ARGV[a + 1], s = ARGV[a + 2], q = dec_format(dec_parse(ARGV[a + 3])),
                 r = tonumber(ARGV[a + 4]), n = tonumber(ARGV[a + 5])}
    if ARGV[a + 6] ~= '' then
      leg.o = ARGV[a + 6]
    end
    if ARGV[a + 7] ~= 'order' then -- absent: 'order', the kind of most orders
      leg.kd = ARGV[a + 7]
    end
    if ARGV[a + 8] ~= '' then -- a conditional order: the kind of the book its triggered order lands in
      leg.tk = ARGV[a + 8]
    end
    local n_budgets = tonumber(ARGV[a + 10])
    if ARGV[a + 9] ~= '' and n_budgets > 0 then
      leg.p, leg.d, leg.b = dec_format(dec_parse(ARGV[a + 9])), day, {}
      for j = 1, n_budgets do
        leg.b[j] = ARGV[a + 10 + j]
      end
    end
    legs[ARGV[a]] = leg
    a = a + 11 + n_budgets
  end
  for _, leg in pairs(legs) do
    pend_add(leg_field(leg), dec_parse(leg.q))
    if leg.n == 1 then
      cnt_add(leg_symbol(leg), 1)
    end
    budget_spend(leg, dec_parse(leg.q), now)
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
out[#out + 1] = gen
return out
