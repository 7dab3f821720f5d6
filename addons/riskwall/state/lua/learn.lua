-- learn: apply what one venue response taught about one account, in MemoryStore's order: order updates,
-- position reports, open-order snapshots, closed orders, accepted amends, position modes, then forget final
-- orders older than the replay memory.
--
-- KEYS[1..13] the account keys (account.lua)
-- ARGV[1]     JSON {at?, nw?, orders = [update...],
--                   positions = [{sym?, at?, vt?, rows = [[symbol, position side, qty]...]}...],
--                   snapshots = [{sym?, at?, cx?, kd, orders = [update...]}...], closed = [order id...],
--                   amended = [{l = leg id of an amend the venue accepted, t = the order's new total size?}...],
--                   modes = [[mode key, mode]...]}
--             update = {id, sym, ps, side, orig, exe, final, ro, kd, rid?, cid?, fe? (OrderUpdate.fills_elsewhere:
--             the kind of the book that holds its fills), vt? (OrderUpdate.venue_ms)};
--             every amount is decimal text;
--             kd is the kind of order ("order", "algo"): a listing of one kind says nothing about another;
--             at, where known, is when the read was asked, less the clock margin (ms): a position with a fill learned
--             since (K_FILL), or an order learned since (its t), is left as the store has it; vt, a stream push's
--             venue time: a position a fill the venue made later moved (K_FILL "|vt") too; cx = 1: a cancel-all's
--             answer, whose orders are held as possibly filled only until a read asked after it; the top-level
--             at, where known, is when the answer reporting the orders was asked, less the margin, and nw the
--             sidecar's clock when it learned them, less the margin (apply_order)
-- ARGV[2]     how long a final order is remembered (ms)
-- ARGV[3..4]  optional: a reservation id of this account and its hold ms, released after the learning (release.lua)

local now = now_ms()
lapse(now)
local facts = cjson.decode(ARGV[1])
local final_ms = tonumber(ARGV[2])

for _, u in ipairs(facts.orders) do
  apply_order(u, now, final_ms, facts.at, facts.nw)
end

-- whether a fill moved position `field` since `asked` (the read may not hold it: MemoryStore._apply_positions), or
-- since the venue made a push (`made`, by the venue's clock, as the fills' `|vt` are)
local function filled_since(field, asked, made)
  if made then
    local filled = tonumber(redis.call('HGET', K_FILL, field .. '|vt'))
    if filled and filled > made then
      return true
    end
  end
  if not asked then
    return false
  end
  local filled = redis.call('HGET', K_FILL, field)
  return filled ~= false and tonumber(filled) >= asked
end

-- held reservations that wait for a position read (K_HELD members `rid`), an open-orders listing (`?rid`) or, for a
-- conditional order, a listing of the book it places its order in (`!rid`) wait no longer once one asked late enough
-- (`read.at`) covers every leg they hold: a listing, its symbol (or the whole account) and its kind (`?`: the leg's
-- `kd`, 'order' without one; `!`: the leg's `tk`, any listing for a leg without one); a read, the positions it set
-- (`reported`, fields; an account-wide read: every position but those it left as they were, `skipped`, since a fill
-- moved them after it was asked). A hold that waits for nothing else ends (MemoryStore._settle)
local function settle(read, listing, reported, skipped)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', K_HELD, '-inf', read.at)) do
    local mark = string.sub(member, 1, 1)
    local placed = mark == '!'
    local unlisted = mark == '?' or placed
    local rid = (unlisted or mark == '@') and string.sub(member, 2) or member
    -- the book a conditional order places its order in is listed for it after its own book was (it may have
    -- triggered between the two), and a position read counts only if asked after the listings (a later millisecond:
    -- two asked in one may reach the venue in either order)
    -- (the order may rest at an earlier read and fill before a listing): one that comes while they are awaited is
    -- kept (`@`, the latest asked) for when they end (MemoryStore._settle_held, _settle_unlisted)
    local first = false
    if placed then
      first = redis.call('ZSCORE', K_HELD, '?' .. rid)
    elseif not unlisted then
      first = redis.call('ZSCORE', K_HELD, '?' .. rid) or redis.call('ZSCORE', K_HELD, '!' .. rid)
    end
    if mark ~= '@' and unlisted == listing and not (placed and first) then
      local raw = redis.call('HGET', K_RESV, rid)
      local covered = true
      for _, leg in pairs(raw and cjson.decode(raw) or {}) do
        if placed then -- of its symbol (or every symbol), and of the book its triggered order lands in
          covered = covered and (not leg.tk or ((not read.sym or leg_symbol(leg) == read.sym) and leg.tk == read.kd))
        elseif listing then -- of its symbol (or every symbol), and of the kind that shows its order
          covered = covered and (not read.sym or leg_symbol(leg) == read.sym) and (leg.kd or 'order') == read.kd
        elseif read.sym then
          covered = covered and reported[leg.k] == true
        else
          covered = covered and not skipped[leg.k]
        end
      end
      if covered and first then -- a read while a listing is awaited
        redis.call('ZADD', K_HELD, 'GT', read.at, '@' .. rid)
      elseif covered then
        redis.call('ZREM', K_HELD, member)
        if mark == '?' then -- its own book listed: the book it places in must be listed as late
          redis.call('ZADD', K_HELD, 'XX', 'GT', read.at + 1, '!' .. rid)
        end
        if unlisted then -- listed: what the order filled is in a position read asked no earlier
          redis.call('ZADD', K_HELD, 'XX', 'GT', read.at + 1, rid)
          local waits, read_at = redis.call('ZSCORE', K_HELD, rid), redis.call('ZSCORE', K_HELD, '@' .. rid)
          if waits and read_at and tonumber(read_at) >= tonumber(waits)
              and not (redis.call('ZSCORE', K_HELD, '?' .. rid) or redis.call('ZSCORE', K_HELD, '!' .. rid)) then
            redis.call('ZREM', K_HELD, rid) -- such a read came already
          end
        end
        if raw and not (redis.call('ZSCORE', K_HELD, rid) or redis.call('ZSCORE', K_HELD, '?' .. rid)
                        or redis.call('ZSCORE', K_HELD, '!' .. rid)) then
          legs_drop(rid, now)
        end
      end
    end
  end
end

for _, report in ipairs(facts.positions) do
  local skipped = {} -- the positions a fill moved since the read was asked: left as they are
  local reported = {} -- the positions the read set
  if not report.sym then -- an account-wide report: whatever it does not list is flat
    redis.call('HSET', K_FILL, '*|read', now)
    for _, field in ipairs(redis.call('HKEYS', K_POS)) do
      if filled_since(field, report.at, report.vt) then
        skipped[field] = true
      else
        redis.call('HSET', K_POS, field, '0')
      end
    end
  end
  for _, row in ipairs(report.rows) do
    local field = row[1] .. '|' .. row[2]
    if filled_since(field, report.at, report.vt) then
      skipped[field] = true
    else
      redis.call('HSET', K_POS, field, dec_format(dec_parse(row[3])))
      redis.call('HSET', K_FILL, field .. '|read', now)
      reported[field] = true
    end
  end
  if report.at then
    settle(report, false, reported, skipped)
  end
end

for _, snapshot in ipairs(facts.snapshots) do
  local listed = {}
  for _, u in ipairs(snapshot.orders) do
    listed[u.id] = true
  end
  local open = redis.call('HGETALL', K_OPEN)
  -- a listing of one symbol reads only that symbol's orders: each record's JSON is searched for the symbol's own
  -- text first (cjson writes a symbol of these characters as it is, and an escaped string holding that text
  -- cannot match it), and only those that hold it are decoded: decoding every order of a large book took ~18 ms
  -- for 5,000 orders, with every sidecar's scripts waiting behind it
  local needle = nil
  if snapshot.sym and string.match(snapshot.sym, '^[%w%-%._:]+$') then
    needle = '"sym":"' .. snapshot.sym .. '"'
  end
  for i = 1, #open, 2 do
    local id = open[i]
    local o = (needle == nil or string.find(open[i + 1], needle, 1, true)) and cjson.decode(open[i + 1]) or nil
    -- an order learned since the listing was asked may be missing from it: it is not taken for gone
    local since = o and snapshot.at and o.t and tonumber(o.t) >= snapshot.at
    if o and not listed[id] and not since and o.kd == snapshot.kd and (not snapshot.sym or o.sym == snapshot.sym) then
      -- gone from the book, filled or cancelled: the listing does not say which
      finalize(id, o, now, final_ms, true)
      -- what it had open is held as an order of unknown fate is, until a position read asked late enough shows
      -- what it did (settle), or its own final word does (settle_vanished); it holds no open-order slot
      -- (MemoryStore._hold_vanished)
      if dec_parse(o.rem).s > 0 then
        -- a cancel-all's answer came once the venue had ended its orders: a read asked from then (the sidecar's
        -- clock, as the reads are stamped) holds what they filled; a listing may not show an order placed just
        -- before it (10 s, as a lost answer). A conditional order may have triggered: the order it placed may rest
        -- in another book (`tk`), which a listing of that book must show too
        hold_vanished(id, o, o.rem, now, facts.nw or now,
                      snapshot.cx and (facts.nw or now) or now + UNANSWERED_SETTLE_MS, snapshot.tk)
      end
    end
  end
  for _, u in ipairs(snapshot.orders) do
    apply_order(u, now, final_ms, snapshot.at, facts.nw)
  end
  if snapshot.at then
    settle(snapshot, true, {}, {})
  end
end

-- the venue confirmed these orders gone without saying how much they filled first: what they had open is held until
-- a position read asked from now or their own final word (settle_vanished) shows it (a reduce-only one's too: the
-- position it reduced may be smaller than the store knows); those the answer says nothing of filled (`cu`: conditional
-- orders cancelled before they triggered) hold nothing but what they had filled, kept for their final word as long as
-- a hold would be (MemoryStore._learn)
local unfilled = {}
for _, id in ipairs(facts.cu or {}) do
  unfilled[id] = true
end
for _, id in ipairs(facts.closed) do
  local raw = redis.call('HGET', K_OPEN, id)
  if raw then
    local o = cjson.decode(raw)
    finalize(id, o, now, final_ms)
    if dec_parse(o.rem).s > 0 then
      hold_vanished(id, o, unfilled[id] and '0' or o.rem, now, facts.nw or now, facts.nw or now, nil, true)
    end
  end
end

-- amends the venue accepted, with the order's new total size where the venue said it
for _, accepted in ipairs(facts.amended or {}) do
  confirm_amend(accepted.l, now, accepted.t, facts.at or now)
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
