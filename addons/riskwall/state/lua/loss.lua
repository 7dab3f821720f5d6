-- loss: measure account equities against their daily-loss rule's baseline, the first equity seen that UTC day
-- (Redis TIME), and trip a rule whose loss exceeds its limit: (unless the rule is in shadow) the account's trading
-- state is recorded, as set by the rule, until the next UTC midnight. A rule trips at most once a day (so a
-- `resume` holds until midnight and one trip makes one log line). Every key is in the {global} slot with the
-- states hash, so one script measures and trips. decimal.lua is prepended (amounts are exact).
--
-- KEYS[1]      HASH scope text -> JSON trading state (the one state.lua writes); a trip's field is
--              "<scope text>#<rule id>", beside the operator's "<scope text>"
-- KEYS[1 + i]  HASH baseline of check i: day (UTC day number), base (the day's first equity), tripped (0/1);
--              PEXPIRE two days
-- ARGV         number of checks, then per check: equity, limit, 1 enforced / 0 shadow, state field, JSON record
--              without at_ms and until_ms
-- returns      per check {baseline, until ms (0: not tripped)}, and last the time (ms)

local now = now_ms()
local day_ms = 86400000
local day = math.floor(now / day_ms)
local day_text = string.format('%d', day)
local out = {}
local i = 2
for c = 1, tonumber(ARGV[1]) do
  local key = KEYS[1 + c]
  local equity_text, limit = ARGV[i], dec_parse(ARGV[i + 1])
  local enforced, field, record = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  local equity = dec_parse(equity_text)
  local known = redis.call('HMGET', key, 'day', 'base', 'tripped')
  local until_ms = 0
  local base_text = equity_text
  if known[1] ~= day_text or not known[2] then
    -- no baseline today (a new day, or none yet): this equity is the day's first
    redis.call('HSET', key, 'day', day_text, 'base', dec_format(equity), 'tripped', '0')
    redis.call('PEXPIRE', key, 2 * day_ms)
  else
    base_text = known[2]
    if known[3] ~= '1' and dec_cmp(dec_sub(dec_parse(base_text), equity), limit) > 0 then
      until_ms = (day + 1) * day_ms
      redis.call('HSET', key, 'tripped', '1')
      if enforced == '1' then
        record_trip(field, record, now, until_ms)
      end
    end
  end
  out[#out + 1] = {base_text, string.format('%d', until_ms)}
end
forget_ended_trips(now)
out[#out + 1] = string.format('%d', now)
return out
