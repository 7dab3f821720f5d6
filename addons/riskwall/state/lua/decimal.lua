-- Exact decimal arithmetic for amounts, because Lua numbers are doubles and money must not be.
--
-- A decimal is a table {s = sign (-1, 0, 1), m = magnitude} where the magnitude is |x| * 10^18 held as
-- little-endian limbs of 7 decimal digits each (every limb an integer below 10^7). Limb sums and borrows
-- stay far below 2^53, so every step is exact integer arithmetic; no amount is ever a Lua number.
-- On the wire and in Redis an amount is its canonical text: optional '-', integer digits, and up to
-- 18 fraction digits without trailing zeros ("0", "1.5", "-0.000000000000000001"); no exponent.
--
-- This file is prepended to every script that handles amounts (see riskwall/state/redis.py).

local DEC_SCALE = 18
local DEC_LIMB = 10000000
local DEC_LIMB_DIGITS = 7
local DEC_ZERO = {s = 0, m = {}}

-- Parsing and formatting are most of a script's time, and calls read the same texts again and again ('0', a
-- limit, an order size, a position): each text is parsed once. Safe because a decimal is never changed after it
-- is made. A function library outlives its calls, so the cache is kept across them, and bounded:
-- begin_decimal() (every call's first step) starts it afresh once it holds more than DEC_CACHE_MAX texts.
local DEC_CACHE_MAX = 1024
local dec_parsed, dec_cached = {}, 0

local function begin_decimal()
  if dec_cached > DEC_CACHE_MAX then
    dec_parsed, dec_cached = {}, 0
  end
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
  -- |x| * 10^18 as digits, leading zeros included: they make zero limbs, trimmed below
  local digits = int .. frac .. string.rep('0', DEC_SCALE - #frac)
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
  local value = DEC_ZERO
  if n > 0 then
    value = {s = (sign == '-') and -1 or 1, m = m}
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
  local text = int
  if frac ~= '' then
    text = int .. '.' .. frac
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
  return {s = -x.s, m = x.m}
end

local function dec_add(a, b)
  if a.s == 0 then
    return b
  end
  if b.s == 0 then
    return a
  end
  if a.s == b.s then
    return {s = a.s, m = dec_add_mag(a.m, b.m)}
  end
  local c = dec_cmp_mag(a.m, b.m)
  if c == 0 then
    return DEC_ZERO
  end
  if c > 0 then
    return {s = a.s, m = dec_sub_mag(a.m, b.m)}
  end
  return {s = b.s, m = dec_sub_mag(b.m, a.m)}
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
  return a.s * dec_cmp_mag(a.m, b.m)
end

local function dec_max0(x)
  if x.s < 0 then
    return DEC_ZERO
  end
  return x
end

-- 0.000000000000000001, written as its limbs: a library computes nothing while it loads
local DEC_ULP = {s = 1, m = {1}}

-- a * b rounded away from zero to 18 fraction digits: a notional charged is never less than the exact product.
-- Limb products stay below 10^14 and every partial sum below 2^53, so each step is exact.
local function dec_mul_up(a, b)
  if a.s == 0 or b.s == 0 then
    return DEC_ZERO
  end
  local out = {}
  for i = 1, #a.m + #b.m do
    out[i] = 0
  end
  for i = 1, #a.m do
    local carry = 0
    for j = 1, #b.m do
      local cur = out[i + j - 1] + a.m[i] * b.m[j] + carry
      carry = math.floor(cur / DEC_LIMB)
      out[i + j - 1] = cur - carry * DEC_LIMB
    end
    local k = i + #b.m
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
    product = {s = a.s * b.s, m = product.m}
  end
  return product
end
