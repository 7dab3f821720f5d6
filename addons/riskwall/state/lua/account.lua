-- Shared by every script that touches one account's state; prepended after decimal.lua.
--
-- Every account script gets the same fourteen keys, all under the account's hash tag (one Cluster slot), bound to
-- these names by begin_account() at the start of every call (a function library outlives its calls):
--   K_POS   KEYS[1]  HASH "<symbol>|<position side>" -> position (signed decimal text)
--   K_PEND  KEYS[2]  HASH "<symbol>|<position side>|<side>" -> what adds (sum of plain legs and orders);
--                         "<symbol>|<position side>|<side>|r" -> what only reduces (reduce-only ones)
--   K_RESV  KEYS[3]  HASH reservation id -> JSON {leg id: {k = "<symbol>|<position side>", s = side, q = qty,
--                         r = 1 for a reduction, n = 1 when it opens an order, o = the order an amend
--                         replaces (absent for a new order), kd = the kind of listing that shows its order
--                         (absent: 'order'), and when charged to
--                         daily-notional budgets: b = {budget key...}, p = price a unit, d = UTC day}}
--   K_LAPSE KEYS[4]  ZSET reservation id, score = when its legs lapse (ms, Redis time)
--   K_OPEN  KEYS[5]  HASH order id -> JSON {sym, ps, s, c (1 adds, 0 only reduces), kd, rem, exe, cid (the
--                         bot's client order id, when known), t (when the store first learned of it, ms, as
--                         text), u (the earliest the venue can have reported exe, ms, as text; absent: not known),
--                         and b, p, d as its leg's when it holds daily-notional budgets}: non-final orders
--   K_DONE  KEYS[6]  ZSET order id, score = when it became final (ms): remembered so a replay changes nothing
--   K_SEQ   KEYS[7]  STRING counter: unique rate-window members
--   K_CNT   KEYS[8]  HASH "*" -> open orders on the account, "s|<symbol>" -> on one symbol: the orders in
--                         K_OPEN plus the reservation legs that open an order (n = 1) (absent = 0)
--   K_DAY   KEYS[9]  HASH daily-notional budget key -> "<UTC day>|<notional charged that day>" (another day's
--                         value counts as 0); PEXPIRE two days after each write
--   K_CID   KEYS[10] HASH client order id -> order id: the orders in K_OPEN with a cid, kept in step with them
--   K_MODE  KEYS[11] HASH the venue's position-mode key (ModeUpdate.key) -> "hedge" | "one-way"
--   K_FILL  KEYS[12] HASH "<symbol>|<position side>" -> when a fill last moved the position (ms, Redis time): a
--                         position read asked before then may not hold that fill; "<symbol>|<position side>|read"
--                         -> when a position read last set it ("*|read": an account-wide read): a fill past what
--                         the store knew of an order before then may be in that read already (read_since);
--                         "<symbol>|<position side>|vt" -> the latest venue time (the venue's clock, ms) of a fill
--                         of the position: a stream's push the venue made before then is stale (learn.lua)
--   K_HELD  KEYS[13] ZSET reservation id, score = the earliest a position read can have been asked to end its hold
--                         (its order's fate unknown: UNANSWERED_SETTLE_MS after the hold began; a fill a read may
--                         hold: when it was learned): a read of its symbol asked then or later ends the wait for it;
--                         "?<reservation id>", score likewise: an order whose answer was lost waits for an
--                         open-orders listing of its symbol too (it may rest unfilled); "!<reservation id>": a
--                         conditional one (legs with `tk`) for a listing of the book it places its order in as well
--                         (it may have triggered); "@<reservation id>", score = when the latest position read that
--                         came while a listing was awaited was asked: a read counts only if asked after (in a later
--                         millisecond than) the listings (the order may rest at an earlier read, and fill before a
--                         listing). The hold ends when it waits for none (learn.lua settle)
--   K_GEN   KEYS[14] STRING the account state's generation: a token written by the first reservation made for the
--                         account, never expired. A sidecar that has seen one and finds another, or none, knows the
--                         store lost the account's state (reserve.lua)
local K_POS, K_PEND, K_RESV, K_LAPSE, K_OPEN, K_DONE, K_SEQ, K_CNT, K_DAY, K_CID, K_MODE, K_FILL, K_HELD, K_GEN
local N_ACCOUNT_KEYS = 14

local function begin_account()
  K_POS, K_PEND, K_RESV, K_LAPSE, K_OPEN, K_DONE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
  K_SEQ, K_CNT, K_DAY, K_CID, K_MODE, K_FILL, K_HELD = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12],
    KEYS[13]
  K_GEN = KEYS[14]
end

-- memory.UNANSWERED_SETTLE_MS and memory.UNANSWERED_HOLD_MS
local UNANSWERED_SETTLE_MS = 10000
local UNANSWERED_HOLD_MS = 900000

local DAY_MS = 86400000
local DAY_KEEP_MS = 2 * DAY_MS

local LAPSE_BATCH = 256

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- add a decimal to the pending aggregate of one (position, side); zero (or, defensively, less) removes it
local function pend_add(field, delta)
  if delta.s == 0 then
    return
  end
  local total = dec_add(dec_parse(redis.call('HGET', K_PEND, field) or '0'), delta)
  if total.s <= 0 then
    redis.call('HDEL', K_PEND, field)
  else
    redis.call('HSET', K_PEND, field, dec_format(total))
  end
end

-- the pending field of a leg or order: what adds, or what only reduces
local function leg_field(leg)
  return leg.k .. '|' .. leg.s .. (leg.r == 1 and '|r' or '')
end

local function pend_get(field)
  return dec_parse(redis.call('HGET', K_PEND, field) or '0')
end

-- how far a position could go in `side`'s direction if every pending order filled (model.worst_case)
local function worst_case_at(position, side, adding, reducing)
  local directional = position
  if side == 'sell' then
    directional = dec_neg(directional)
  end
  if directional.s < 0 then
    directional = dec_add(directional, reducing)
    if directional.s > 0 then
      directional = DEC_ZERO
    end
  end
  return dec_add(directional, adding)
end

-- the same for the position `k` of this account
local function worst_case(k, side, adding, reducing)
  return worst_case_at(dec_parse(redis.call('HGET', K_POS, k) or '0'), side, adding, reducing)
end

-- what an order on `side` can still take off the position held the other way (model.reducible)
local function reducible(k, side, adding, reducing)
  local held = dec_parse(redis.call('HGET', K_POS, k) or '0')
  if side == 'buy' then
    held = dec_neg(held)
  end
  held = dec_max0(held)
  return dec_sub(dec_sub(held, adding), reducing)
end

-- one order (or leg that opens one) more (delta 1) or fewer (-1) on the account and on `sym`
local function cnt_add(sym, delta)
  for _, field in ipairs({'*', 's|' .. sym}) do
    if redis.call('HINCRBY', K_CNT, field, delta) <= 0 then
      redis.call('HDEL', K_CNT, field)
    end
  end
end

-- an account written before the open-orders counters existed (open orders, no counters): count what is open, once
-- (O(n) that one time; every later call costs two O(1) reads). Legs written then carry no n and are not counted.
local function cnt_init()
  if redis.call('EXISTS', K_CNT) == 1 or redis.call('HLEN', K_OPEN) == 0 then
    return
  end
  for _, raw in ipairs(redis.call('HVALS', K_OPEN)) do
    cnt_add(cjson.decode(raw).sym, 1)
  end
end

-- the symbol of a leg's "<symbol>|<position side>"
local function leg_symbol(leg)
  return string.match(leg.k, '^(.*)|[^|]*$') or leg.k
end

local function encode_legs(legs)
  if next(legs) == nil then
    return '{}'
  end
  return cjson.encode(legs)
end

-- the notional charged to a daily-notional budget on `day`
local function budget_get(key, day)
  local raw = redis.call('HGET', K_DAY, key)
  if raw then
    local at, total = string.match(raw, '^(%d+)|(.*)$')
    if tonumber(at) == day then
      return dec_parse(total)
    end
  end
  return DEC_ZERO
end

-- charge quantity * price (or give it back: a negative quantity) to each budget of `holder` ({b, p, d}); a
-- charge of a day that has ended moves nothing (that day's budget is no longer kept)
local function budget_spend(holder, quantity, now)
  if holder.b == nil or holder.p == nil or quantity.s == 0 then
    return
  end
  local day = math.floor(now / DAY_MS)
  if holder.d ~= day then
    return
  end
  local amount = dec_mul_up(quantity, dec_parse(holder.p))
  if quantity.s < 0 then
    -- what is given back is the charge rounded the same way, so a charge and its return cancel exactly
    amount = dec_neg(dec_mul_up(dec_neg(quantity), dec_parse(holder.p)))
  end
  for _, key in ipairs(holder.b) do
    local total = dec_add(budget_get(key, day), amount)
    if total.s <= 0 then
      redis.call('HDEL', K_DAY, key)
    else
      redis.call('HSET', K_DAY, key, string.format('%d|%s', day, dec_format(total)))
    end
  end
  redis.call('PEXPIRE', K_DAY, DAY_KEEP_MS)
end

-- drop what is left of a reservation, now
local function legs_drop(rid, now)
  local raw = redis.call('HGET', K_RESV, rid)
  if raw then
    for _, leg in pairs(cjson.decode(raw)) do
      pend_add(leg_field(leg), dec_neg(dec_parse(leg.q)))
      if leg.n == 1 then
        cnt_add(leg_symbol(leg), -1)
      end
      budget_spend(leg, dec_neg(dec_parse(leg.q)), now)
    end
    redis.call('HDEL', K_RESV, rid)
  end
  redis.call('ZREM', K_LAPSE, rid)
  redis.call('ZREM', K_HELD, rid, '?' .. rid, '!' .. rid, '@' .. rid)
end

-- what is left of a reservation: dropped now (hold 0), or kept `hold` ms more and then lapsed
local function release(rid, hold, now)
  if hold <= 0 then
    legs_drop(rid, now)
    return
  end
  local raw = redis.call('HGET', K_RESV, rid)
  if raw then
    local settles_from = now + UNANSWERED_SETTLE_MS
    redis.call('ZADD', K_LAPSE, now + hold, rid)
    redis.call('ZADD', K_HELD, settles_from, rid, settles_from, '?' .. rid)
    local legs, charged = cjson.decode(raw), false
    for _, leg in pairs(legs) do
      if leg.tk then -- a conditional order: it may have triggered, and what it placed may rest in that book
        redis.call('ZADD', K_HELD, settles_from, '!' .. rid)
      end
      -- whether the venue took it is not known, nor what it filled: its daily-notional charge stays whatever ends
      -- its hold (a read or a listing shows a fill, never charges one) (MemoryStore.release)
      if leg.b ~= nil then
        leg.b, charged = nil, true
      end
    end
    if charged then
      redis.call('HSET', K_RESV, rid, cjson.encode(legs))
    end
  end
end

-- hold `leg` ({k, s, q, r?}; for a vanished order also x = what it had filled, v = when the store knew it and w =
-- when it vanished, the sidecar's clock less the margin, as update stamps are: revive; kd, the listing it waits for;
-- cb, cp, cd, a daily-notional charge given back: hold_vanished) as a reservation of one leg, no open-order slot,
-- until a position read asked from `settles_from` shows what it did (learn.lua settle), at most UNANSWERED_HOLD_MS
-- where it `lapses` (MemoryStore._hold)
local function hold(rid, leg, now, settles_from, lapses)
  redis.call('HSET', K_RESV, rid, cjson.encode({[rid .. ':0'] = leg}))
  pend_add(leg_field(leg), dec_parse(leg.q))
  if lapses then
    redis.call('ZADD', K_LAPSE, now + UNANSWERED_HOLD_MS, rid)
  end
  redis.call('ZADD', K_HELD, settles_from, rid)
end

-- order `id` (its record `o`) is gone from the book without its fills said: hold `q` (decimal text: what it had open,
-- or '0' to keep only what it had filled) as a vanished order, until a position read asked from `settles_from` (and,
-- given the kind of a `listing`, an open-orders listing of that kind too: where the order a triggered conditional
-- order placed rests) or its own final word (settle_vanished) shows what it did; `vanished` is when it went, the
-- sidecar's clock less the margin (revive). `given_back` (a cancel confirmed by id): its open part's daily-notional
-- charge was given back (finalize), so what its final word says it filled is charged again (cb, cp, cd: its b, p, d)
-- (MemoryStore._hold_vanished)
local function hold_vanished(id, o, q, now, vanished, settles_from, listing, given_back)
  local rid = 'vanished:' .. id
  local leg = {k = o.sym .. '|' .. o.ps, s = o.s, q = q, r = o.c == 0 and 1 or nil, x = o.exe, v = o.u, w = vanished,
               kd = listing ~= 'order' and listing or nil}
  if given_back and o.b then
    leg.cb, leg.cp, leg.cd = o.b, o.p, o.d
  end
  hold(rid, leg, now, settles_from, true)
  if listing then
    redis.call('ZADD', K_HELD, settles_from, '?' .. rid)
  end
end

-- whether a position read learned after `seen` (nil: ever) set position `k`: a fill the venue reported since `seen`
-- may be in that read already, or may not (MemoryStore._read_since)
local function read_since(k, seen)
  local read = redis.call('HMGET', K_FILL, k .. '|read', '*|read')
  local at = math.max(tonumber(read[1]) or -1, tonumber(read[2]) or -1)
  return at >= 0 and (seen == nil or at > seen)
end

-- a fill past what the store knew of order `id`, which it knew as of `seen`: into position `k`, unless a position read
-- learned since may hold it already, or it is `timeless` (an order first heard of once ended); then held in the
-- fill's direction until a read asked from `learned` (nil: now) shows the position, never lapsing
-- (MemoryStore._count_fill)
local function count_fill(id, k, side, reducing, seen, fill, executed, now, learned, timeless, vt)
  if vt then -- held or moved, a fill the venue dates makes its older pushes of the position stale (learn.lua)
    local known = tonumber(redis.call('HGET', K_FILL, k .. '|vt'))
    if not known or vt > known then
      redis.call('HSET', K_FILL, k .. '|vt', string.format('%d', vt))
    end
  end
  if timeless or read_since(k, seen) then
    hold('fill:' .. id .. ':' .. dec_format(executed), {k = k, s = side, q = dec_format(fill), r = reducing}, now,
         learned or now, false)
    return
  end
  if side == 'sell' then
    fill = dec_neg(fill)
  end
  redis.call('HSET', K_POS, k, dec_format(dec_add(dec_parse(redis.call('HGET', K_POS, k) or '0'), fill)))
  redis.call('HSET', K_FILL, k, now)
end

-- a vanished order's final word (a stream's cancel event, an order query), update `u`: its hold ends, and what it
-- filled past what the store knew counts as any fill does (MemoryStore._settle_vanished)
local function settle_vanished(u, now, learned)
  local rid = 'vanished:' .. u.id
  local raw = redis.call('HGET', K_RESV, rid)
  if not raw then
    return
  end
  local leg = cjson.decode(raw)[rid .. ':0']
  if not leg or not leg.x then
    return -- held by an older release, without what it had filled: a position read settles it
  end
  legs_drop(rid, now)
  local executed = dec_parse(u.exe)
  local fill = dec_sub(executed, dec_parse(leg.x))
  if fill.s > 0 then
    count_fill(u.id, leg.k, leg.s, leg.r, tonumber(leg.v), fill, executed, now, learned, nil, u.vt)
    if leg.cb then -- its open part was given back when the cancel came: the fill is not
      budget_spend({b = leg.cb, p = leg.cp, d = leg.cd}, fill, now)
    end
  end
end

-- an order taken for gone (it vanished from a listing, which may have lagged) that update `u`, asked at `at` after it
-- vanished (its leg's w), says is open: its hold ends and it is open again with what the store knew it had filled
-- (answered as a new order record, which apply_order then stores and counts); nil when not so (MemoryStore._revive)
local function revive(u, now, at)
  local rid = 'vanished:' .. u.id
  local raw = redis.call('HGET', K_RESV, rid)
  if not raw then
    return nil
  end
  local leg = cjson.decode(raw)[rid .. ':0']
  if not leg or not leg.x or not leg.w or at <= tonumber(leg.w) then
    return nil
  end
  legs_drop(rid, now)
  redis.call('ZREM', K_DONE, u.id)
  local sym, ps = string.match(leg.k, '^(.*)|([^|]*)$')
  return {sym = sym, ps = ps, s = leg.s, c = leg.r == 1 and 0 or 1, kd = u.kd, rem = '0', exe = leg.x,
          t = string.format('%d', now), u = leg.v}
end

-- reservations whose hold ran out lapse lazily, in whichever script touches the account next
local function lapse(now)
  cnt_init()
  local due = redis.call('ZRANGEBYSCORE', K_LAPSE, '-inf', now, 'LIMIT', 0, LAPSE_BATCH)
  for _, rid in ipairs(due) do
    legs_drop(rid, now)
  end
end

local function order_field(o)
  return o.sym .. '|' .. o.ps .. '|' .. o.s .. (o.c == 1 and '' or '|r')
end

-- `listed` true: the order left an open-orders listing, which does not say why: its daily-notional charge stays
-- whole (MemoryStore._finalise), since no later report would charge a fill the sidecar did not see
local function finalize(id, o, now, final_ms, listed)
  pend_add(order_field(o), dec_neg(dec_parse(o.rem)))
  if not listed then
    budget_spend(o, dec_neg(dec_parse(o.rem)), now)
  end
  if redis.call('HDEL', K_OPEN, id) == 1 then
    cnt_add(o.sym, -1)
  end
  -- its client id names it no longer, unless another order took the name since
  if o.cid and redis.call('HGET', K_CID, o.cid) == id then
    redis.call('HDEL', K_CID, o.cid)
  end
  redis.call('ZADD', K_DONE, now, id)
  redis.call('PEXPIRE', K_DONE, final_ms)
end

-- one OrderUpdate {id, sym, ps, side, orig, exe, final, ro, kd, rid?, cid?, fe?}: move its reservation leg to the
-- order, apply only the part of the fill not applied before, keep the order's remaining in the aggregate and its
-- client id in K_CID (MemoryStore._apply_order). `at`: when the answer saying it was asked, less the clocks' margin
-- (nil: not known, taken as now); a fill a position read learned since the store last knew the order may hold already
-- is held, not moved into the position, until a read asked from `learned` (the sidecar's clock when it learned the
-- fill, less the margin, as the reads' `at` are; nil: now) (MemoryStore._count_fill)
local function apply_order(u, now, final_ms, at, learned)
  local stamped = at ~= nil -- an answer of unknown age may be an older one replayed: it revives nothing
  at = at or now
  local fresh = false -- the answer to a request the sidecar admitted: the order had filled nothing before it
  local taken = nil -- the daily-notional charge the order takes over from its leg
  local leg_q = nil -- what that leg held
  if u.rid then
    local rid = string.match(u.rid, '^(.*):[^:]*$') or u.rid
    local raw = redis.call('HGET', K_RESV, rid)
    if raw then
      local legs = cjson.decode(raw)
      local leg = legs[u.rid]
      if leg then
        fresh = true
        leg_q = leg.q
        pend_add(leg_field(leg), dec_neg(dec_parse(leg.q)))
        if leg.n == 1 then
          cnt_add(leg_symbol(leg), -1)
        end
        if leg.b ~= nil and leg.p ~= nil then
          budget_spend(leg, dec_neg(dec_parse(leg.q)), now)
          taken = {b = leg.b, p = leg.p, d = leg.d}
        end
        legs[u.rid] = nil
        redis.call('HSET', K_RESV, rid, encode_legs(legs))
      end
    end
  end
  local revived = nil
  if redis.call('ZSCORE', K_DONE, u.id) then
    if not u.final and not u.fe and stamped then
      revived = revive(u, now, at)
    end
    if not revived then
      if u.final and not u.fe then
        settle_vanished(u, now, learned)
      end
      return
    end
  end
  local raw = redis.call('HGET', K_OPEN, u.id)
  local o
  -- an order the store never saw placed, first heard of with a fill (a bot querying an old order, a listing after
  -- a restart): when it filled is not known
  local timeless = not revived and not raw and not fresh
  if revived then
    o = revived
  elseif raw then
    o = cjson.decode(raw)
  else
    o = {sym = u.sym, ps = u.ps, s = u.side, c = u.ro and 0 or 1, kd = u.kd, rem = '0', exe = '0',
         t = string.format('%d', now), u = fresh and string.format('%d', at) or nil}
  end
  local renamed = false
  if u.cid and u.cid ~= '' and o.cid ~= u.cid then
    -- the order's new name replaces its old one (where the old one still names it)
    if o.cid and redis.call('HGET', K_CID, o.cid) == u.id then
      redis.call('HDEL', K_CID, o.cid)
    end
    o.cid = u.cid
    redis.call('HSET', K_CID, u.cid, u.id)
    renamed = true
  end
  local executed = dec_parse(u.exe)
  local fill = dec_sub(executed, dec_parse(o.exe))
  if fill.s < 0 then
    -- an older answer replayed after a newer one: it knows less than we do (a new order is not stored:
    -- no executed amount is below zero, so it never gets here); a name it brings is kept all the same
    if renamed then
      redis.call('HSET', K_OPEN, u.id, cjson.encode(o))
    end
    return
  end
  local filled = fill
  if fill.s > 0 then
    count_fill(u.id, u.sym .. '|' .. u.ps, o.s, o.c == 0 and 1 or nil, tonumber(o.u), fill, executed, now, learned,
               timeless, u.vt)
    o.exe = dec_format(executed)
  end
  -- an answer asked before the store last knew the order (a listing answered after an amend it did not see) may
  -- show a size the order no longer has: it never makes the order count for less than it had open
  local stale = stamped and o.u ~= nil and at <= tonumber(o.u)
  if not o.u or at > tonumber(o.u) then
    o.u = string.format('%d', at)
  end
  local remaining = dec_max0(dec_sub(dec_parse(u.orig), executed))
  if not u.final and o.c == 0 and dec_parse(u.orig).s == 0 then
    -- a close of whatever the position is (Binance closePosition, OKX closeFraction) is reported without a size:
    -- it holds what the close was decided against (its leg), and a later report without a size keeps that
    -- (MemoryStore._apply_order)
    local held = dec_parse(o.rem)
    if leg_q ~= nil and dec_cmp(dec_parse(leg_q), held) > 0 then
      held = dec_parse(leg_q)
    end
    remaining = dec_max0(dec_sub(held, filled))
  elseif stale then
    local kept = dec_max0(dec_sub(dec_parse(o.rem), filled))
    if dec_cmp(kept, remaining) > 0 then
      remaining = kept
    end
  end
  -- the order's hold on its daily-notional budgets (MemoryStore._recharge): what filled stays charged, what is
  -- open is charged at its price; an answer to an amend moves it to the amend's price, a new order's fill counts
  local had = o.b ~= nil and o.p ~= nil
  if had then
    budget_spend(o, dec_sub(filled, dec_parse(o.rem)), now)
  end
  if taken ~= nil then
    o.b, o.p, o.d = taken.b, taken.p, taken.d
  end
  if o.b ~= nil and o.p ~= nil then
    budget_spend(o, had and remaining or dec_add(remaining, filled), now)
  end
  pend_add(order_field(o), dec_sub(remaining, dec_parse(o.rem)))
  o.rem = dec_format(remaining)
  if u.final and u.fe then
    -- a conditional order that triggered: the order it placed holds the fills, so what it had open is held until a
    -- position read and a listing of the book it placed that order in (`fe`), asked from now, show what that did
    -- (MemoryStore._apply_order)
    finalize(u.id, o, now, final_ms, true)
    if remaining.s > 0 then
      hold_vanished(u.id, o, o.rem, now, learned or now, learned or now, u.fe)
    end
    return
  end
  if u.final then
    finalize(u.id, o, now, final_ms)
    return
  end
  if redis.call('HSET', K_OPEN, u.id, cjson.encode(o)) == 1 then
    cnt_add(o.sym, 1) -- a new open order
  end
end

-- an amend the venue accepted (MemoryStore._confirm_amend): its leg leaves the reservation and the order holds, at
-- the higher price, what the amend's new total size (`total`, fills included, decimal text; nil when the venue did
-- not say) leaves of it, or else the larger of what it had open and the amend's size; `at`: when the answer was
-- asked (nil: not known)
local function confirm_amend(leg_id, now, total, at)
  local rid = string.match(leg_id, '^(.*):[^:]*$') or leg_id
  local raw = redis.call('HGET', K_RESV, rid)
  if not raw then
    return
  end
  local legs = cjson.decode(raw)
  local leg = legs[leg_id]
  if not leg then
    return
  end
  pend_add(leg_field(leg), dec_neg(dec_parse(leg.q)))
  if leg.n == 1 then
    cnt_add(leg_symbol(leg), -1)
  end
  budget_spend(leg, dec_neg(dec_parse(leg.q)), now)
  legs[leg_id] = nil
  redis.call('HSET', K_RESV, rid, encode_legs(legs))
  local order_raw = leg.o and redis.call('HGET', K_OPEN, leg.o)
  if not order_raw then
    return
  end
  local o = cjson.decode(order_raw)
  if o.s ~= leg.s or (o.sym .. '|' .. o.ps) ~= leg.k then
    return
  end
  local had, quantity = dec_parse(o.rem), dec_parse(leg.q)
  local remaining
  if total then
    remaining = dec_max0(dec_sub(dec_parse(total), dec_parse(o.exe)))
  else
    remaining = dec_cmp(quantity, had) > 0 and quantity or had
  end
  pend_add(order_field(o), dec_sub(remaining, had))
  if o.b ~= nil and o.p ~= nil then
    budget_spend(o, dec_neg(had), now)
  end
  if leg.b ~= nil and leg.p ~= nil then
    local price = leg.p
    if o.p ~= nil and dec_cmp(dec_parse(o.p), dec_parse(leg.p)) > 0 then
      price = o.p
    end
    o.b, o.p, o.d = leg.b, price, leg.d
  end
  if o.b ~= nil and o.p ~= nil then
    budget_spend(o, remaining, now)
  end
  o.rem = dec_format(remaining)
  -- what an answer asked before the amend shows of the order is older than this (apply_order's `stale`)
  if at and (not o.u or at > tonumber(o.u)) then
    o.u = string.format('%d', at)
  end
  redis.call('HSET', K_OPEN, leg.o, cjson.encode(o))
end
