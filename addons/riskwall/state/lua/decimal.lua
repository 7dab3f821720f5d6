-- Exact decimal arithmetic for amounts, because Lua numbers are doubles and money must not be.
--
-- A decimal is a table with a sign s (-1, 0, 1) and its magnitude in one of two exact forms:
--   i, e   the magnitude is i * 10^-e, i a whole number below 2^53 (a double holds every such number exactly) and e
--          the count of fraction digits (0..18), with no trailing zero in i when e > 0. Almost every amount a venue
--          sends (a quantity, a price, a position) has this form, and its arithmetic is a few double operations:
--          every result is checked to be below 2^53 before it is kept, so no step ever rounds.
--   m      |x| * 10^18 as little-endian limbs of 7 decimal digits each (every limb an integer below 10^7), for any
--          amount: the form of the rest, and of any result the first form cannot hold exactly. Limb sums and
--          borrows stay far below 2^53, so every step is exact integer arithmetic.
-- A value in the first form gets its limbs (m) when an operation needs them; no amount is ever a rounded number.
-- On the wire and in Redis an amount is its canonical text: optional '-', integer digits, and up to
-- 18 fraction digits without trailing zeros ("0", "1.5", "-0.000000000000000001"); no exponent.
--
-- This file is prepended to every script that handles amounts (see riskwall/state/redis.py).

local DEC_SCALE = 18
local DEC_LIMB = 10000000
local DEC_LIMB_DIGITS = 7
-- 2^53: every whole number below it is a double exactly; a sum or product of such numbers computed as a double is
-- exact when the result is below it, and at least it when the exact result is (rounding is monotonic)
local DEC_EXACT = 9007199254740992
-- 10^k for k = 0..18, each exact as a double (written out: a library computes nothing while it loads)
local DEC_POW10 = {[0] = 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
                   1e17, 1e18}
local DEC_ZERO = {s = 0, i = 0, e = 0, m = {}}

-- Parsing and formatting are most of a script's time, and calls read the same texts again and again ('0', a
-- limit, an order size, a position): each text is parsed once. Safe because a decimal is never changed after it
-- is made (but for the limbs of a value in the first form, added once when first needed: the same magnitude). A
-- function library outlives its calls, so the cache is kept across them, and bounded: begin_decimal() (every
-- call's first step) starts it afresh once it holds more than DEC_CACHE_MAX texts.
local DEC_CACHE_MAX = 1024
local dec_parsed, dec_cached = {}, 0

local function begin_decimal()
  if dec_cached > DEC_CACHE_MAX then
    dec_parsed, dec_cached = {}, 0
  end
end

-- `digits` (decimal digits, leading zeros allowed) as limbs of |x| * 10^18, trimmed
local function dec_split(digits)
  local m, n = {}, 0
  local stop = #digits
  while stop > 0 do
    local start = stop - DEC_LIMB_DIGITS + 1
    if start < 1 then
      start = 1
    end
    n = n + 1
    m[n] = tonumber(string.sub(digits, start, stop))
    stop = start - 1
  end
  while n > 0 and m[n] == 0 do
    m[n] = nil
    n = n - 1
  end
  return m
end

-- the value s * i * 10^-e (i a whole number below 2^53), with the trailing zeros of i dropped while e > 0
local function dec_exact(s, i, e)
  if i == 0 then
    return DEC_ZERO
  end
  while e > 0 and i % 10 == 0 do
    i = i / 10
    e = e - 1
  end
  return {s = s, i = i, e = e}
end

-- the limbs of x's magnitude (added to a value of the first form the first time they are asked for)
local function dec_limbs(x)
  local m = x.m
  if m == nil then
    m = dec_split(string.format('%d', x.i) .. string.rep('0', DEC_SCALE - x.e))
    x.m = m
  end
  return m
end

local function dec_parse(text)
  local known = dec_parsed[text]
  if known then
    return known
  end
  if type(text) ~= 'string' then
    error('riskwall decimal: not a string')
  end
  local sign, int, frac = string.match(text, '^([+-]?)(%d*)%.?(%d*)$')
  if sign == nil or (int == '' and frac == '') then
    error('riskwall decimal: not a plain decimal: ' .. text)
  end
  if #frac > DEC_SCALE then
    error('riskwall decimal: more than 18 fraction digits: ' .. text)
  end
  local places = #frac
  while places > 0 and string.byte(frac, places) == 48 do -- trailing zeros say nothing
    places = places - 1
  end
  frac = string.sub(frac, 1, places)
  local s = (sign == '-') and -1 or 1
  -- strtod rounds correctly: a result below 2^53 is the digits' exact value, and one that is not means they are not
  local whole = tonumber(int .. frac) or 0 -- "" when every digit was a fraction zero (".000")
  local value
  if whole < DEC_EXACT then
    value = dec_exact(s, whole, places)
  else
    value = {s = s, m = dec_split(int .. frac .. string.rep('0', DEC_SCALE - places))}
    if #value.m == 0 then
      value = DEC_ZERO
    end
  end
  dec_parsed[text] = value
  dec_cached = dec_cached + 1
  return value
end

local DEC_FORMATS = {'%d', '%d%07d', '%d%07d%07d', '%d%07d%07d%07d', '%d%07d%07d%07d%07d'}

local function dec_format(x)
  if x.s == 0 then
    return '0'
  end
  local text
  local e = x.e
  if e ~= nil then
    text = string.format('%d', x.i)
    if e > 0 then
      local n = #text
      if n <= e then
        text = string.rep('0', e + 1 - n) .. text
        n = e + 1
      end
      text = string.sub(text, 1, n - e) .. '.' .. string.sub(text, n - e + 1)
    end
  else
    local m = x.m
    local n = #m
    local digits
    if n <= #DEC_FORMATS then
      digits = string.format(DEC_FORMATS[n], m[n], m[n - 1], m[n - 2], m[n - 3], m[n - 4])
    else
      local parts = {tostring(m[n])}
      for i = n - 1, 1, -1 do
        parts[#parts + 1] = string.format('%07d', m[i])
      end
      digits = table.concat(parts)
    end
    if #digits <= DEC_SCALE then
      digits = string.rep('0', DEC_SCALE + 1 - #digits) .. digits
    end
    local int = string.sub(digits, 1, #digits - DEC_SCALE)
    local frac = string.match(string.sub(digits, #digits - DEC_SCALE + 1), '^(.-)0*$')
    text = int
    if frac ~= '' then
      text = int .. '.' .. frac
    end
  end
  if x.s < 0 then
    text = '-' .. text
  end
  return text
end

local function dec_trim(m)
  while #m > 0 and m[#m] == 0 do
    m[#m] = nil
  end
  return m
end

-- compare magnitudes: -1, 0 or 1
local function dec_cmp_mag(a, b)
  if #a ~= #b then
    return (#a < #b) and -1 or 1
  end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then
      return (a[i] < b[i]) and -1 or 1
    end
  end
  return 0
end

local function dec_add_mag(a, b)
  local out, carry = {}, 0
  for i = 1, math.max(#a, #b) do
    local sum = (a[i] or 0) + (b[i] or 0) + carry
    if sum >= DEC_LIMB then
      out[i], carry = sum - DEC_LIMB, 1
    else
      out[i], carry = sum, 0
    end
  end
  if carry > 0 then
    out[#out + 1] = carry
  end
  return out
end

-- a - b for magnitudes with a >= b
local function dec_sub_mag(a, b)
  local out, borrow = {}, 0
  for i = 1, #a do
    local diff = a[i] - (b[i] or 0) - borrow
    if diff < 0 then
      out[i], borrow = diff + DEC_LIMB, 1
    else
      out[i], borrow = diff, 0
    end
  end
  return dec_trim(out)
end

local function dec_neg(x)
  return {s = -x.s, i = x.i, e = x.e, m = x.m}
end

-- the magnitudes of two values of the first form at one count of fraction digits, or nil when either is not in
-- that form or would not stay below 2^53
local function dec_aligned(a, b)
  local ai, bi, ae, be = a.i, b.i, a.e, b.e
  if ae == nil or be == nil then
    return nil
  end
  if ae < be then
    ai, ae = ai * DEC_POW10[be - ae], be
    if ai >= DEC_EXACT then
      return nil
    end
  elseif be < ae then
    bi = bi * DEC_POW10[ae - be]
    if bi >= DEC_EXACT then
      return nil
    end
  end
  return ai, bi, ae
end

local function dec_add(a, b)
  if a.s == 0 then
    return b
  end
  if b.s == 0 then
    return a
  end
  local ai, bi, e = dec_aligned(a, b)
  if ai ~= nil then
    if a.s ~= b.s then -- the difference of two whole numbers below 2^53 is exact
      if ai == bi then
        return DEC_ZERO
      end
      if ai > bi then
        return dec_exact(a.s, ai - bi, e)
      end
      return dec_exact(b.s, bi - ai, e)
    end
    local sum = ai + bi
    if sum < DEC_EXACT then
      return dec_exact(a.s, sum, e)
    end
  end
  local am, bm = dec_limbs(a), dec_limbs(b)
  if a.s == b.s then
    return {s = a.s, m = dec_add_mag(am, bm)}
  end
  local c = dec_cmp_mag(am, bm)
  if c == 0 then
    return DEC_ZERO
  end
  if c > 0 then
    return {s = a.s, m = dec_sub_mag(am, bm)}
  end
  return {s = b.s, m = dec_sub_mag(bm, am)}
end

local function dec_sub(a, b)
  return dec_add(a, dec_neg(b))
end

local function dec_cmp(a, b)
  if a.s ~= b.s then
    return (a.s < b.s) and -1 or 1
  end
  if a.s == 0 then
    return 0
  end
  local ai, bi = dec_aligned(a, b)
  if ai ~= nil then
    if ai == bi then
      return 0
    end
    return (ai < bi) and -a.s or a.s
  end
  return a.s * dec_cmp_mag(dec_limbs(a), dec_limbs(b))
end

local function dec_max0(x)
  if x.s < 0 then
    return DEC_ZERO
  end
  return x
end

-- 0.000000000000000001
local DEC_ULP = {s = 1, i = 1, e = 18}

-- a * b rounded away from zero to 18 fraction digits: a notional charged is never less than the exact product.
-- Limb products stay below 10^14 and every partial sum below 2^53, so each step is exact.
local function dec_mul_up(a, b)
  if a.s == 0 or b.s == 0 then
    return DEC_ZERO
  end
  if a.e ~= nil and b.e ~= nil and a.e + b.e <= DEC_SCALE then
    local product = a.i * b.i
    if product < DEC_EXACT then -- exact, and no more than 18 fraction digits: nothing to round
      return dec_exact(a.s * b.s, product, a.e + b.e)
    end
  end
  local am, bm = dec_limbs(a), dec_limbs(b)
  local out = {}
  for i = 1, #am + #bm do
    out[i] = 0
  end
  for i = 1, #am do
    local carry = 0
    for j = 1, #bm do
      local cur = out[i + j - 1] + am[i] * bm[j] + carry
      carry = math.floor(cur / DEC_LIMB)
      out[i + j - 1] = cur - carry * DEC_LIMB
    end
    local k = i + #bm
    while carry > 0 do
      local cur = out[k] + carry
      carry = math.floor(cur / DEC_LIMB)
      out[k] = cur - carry * DEC_LIMB
      k = k + 1
    end
  end
  dec_trim(out)
  -- `out` is |a * b| * 10^36: its digits but the last 18 are the magnitude at scale 18
  local parts = {tostring(out[#out])}
  for i = #out - 1, 1, -1 do
    parts[#parts + 1] = string.format('%07d', out[i])
  end
  local digits = string.rep('0', 2 * DEC_SCALE) .. table.concat(parts)
  local int = string.sub(digits, 1, #digits - 2 * DEC_SCALE)
  local frac = string.sub(digits, #digits - 2 * DEC_SCALE + 1, #digits - DEC_SCALE)
  local product = dec_parse(int .. '.' .. frac)
  if string.find(string.sub(digits, -DEC_SCALE), '[1-9]') then
    product = dec_add(product, DEC_ULP)
  end
  if product.s ~= 0 then
    product = {s = a.s * b.s, i = product.i, e = product.e, m = product.m}
  end
  return product
end
