-- state: set or clear a trading state, stamped with Redis time so every sidecar agrees on when.
--
-- KEYS[1]  HASH scope text -> JSON {venue, account, symbol, state, reason, actor, at_ms}; a state a reject storm
--          set lives under "<scope text>#<rule id>" with until_ms and rule_id too (reject.lua writes it)
-- ARGV     scope text, JSON of the record without at_ms (ignored when clearing), 1 to clear

local now = now_ms()
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
forget_ended_trips(now)
return now
