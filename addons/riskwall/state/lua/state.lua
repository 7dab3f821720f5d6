-- state: set or clear a trading state, stamped with Redis time so every sidecar agrees on when.
--
-- KEYS[1]  HASH scope text -> JSON {venue, account, symbol, state, reason, actor, at_ms}; a state a reject storm
--          set lives under "<scope text>#<rule id>" with until_ms and rule_id too (reject.lua writes it)
-- ARGV     scope text, JSON of the record without at_ms (ignored when clearing), 1 to clear

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  -- a resume ends every state at the scope, those a storm set included
  local prefix = ARGV[1] .. '#'
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(field, 1, #prefix) == prefix then
      redis.call('HDEL', KEYS[1], field)
    end
  end
else
  local record = cjson.decode(ARGV[2])
  record.at_ms = string.format('%d', now)
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
end
-- storms' states that ended go (reads ignore them already), as reject.lua does
local states = redis.call('HGETALL', KEYS[1])
for s = 1, #states, 2 do
  if string.find(states[s], '#', 1, true) then
    local ends = tonumber(cjson.decode(states[s + 1]).until_ms or '')
    if ends and ends <= now then
      redis.call('HDEL', KEYS[1], states[s])
    end
  end
end
return now
