-- state: set or clear a trading state, stamped with Redis time so every sidecar agrees on when.
--
-- KEYS[1]  HASH scope text -> JSON {venue, account, symbol, state, reason, actor, at_ms}
-- ARGV     scope text, JSON of the record without at_ms (ignored when clearing), 1 to clear

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  local record = cjson.decode(ARGV[2])
  record.at_ms = string.format('%d', now)
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
end
return now
