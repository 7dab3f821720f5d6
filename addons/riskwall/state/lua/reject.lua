-- reject: count orders the venue refused into reject-storm windows, and trip a storm whose window reaches its
-- limit: the window starts again empty and (unless the rule is in shadow) the account's trading state is
-- recorded, as set by the rule, until now + its cool-down. Every key is in the {global} slot (the states hash
-- lives there), so one script on one slot counts and trips; time is Redis TIME.
--
-- KEYS[1]      HASH scope text -> JSON trading state (the one state.lua writes); a storm's field is
--              "<scope text>#<rule id>", beside the operator's "<scope text>"
-- KEYS[1 + i]  ZSET window of count i: member "<decision id>:<leg>" (an answer counted twice counts once),
--              score = when counted (ms); PEXPIRE = window
-- ARGV         number of counts, then per count: limit, window ms, cool-down ms, 1 enforced / 0 shadow, state
--              field, JSON record without at_ms and until_ms, number of members, the members
-- returns      per count {refusals in the window, until ms (0: not tripped)}, and last the time (ms)

local now = now_ms()
local out = {}
local i = 2
for c = 1, tonumber(ARGV[1]) do
  local key = KEYS[1 + c]
  local limit, window, cool = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local enforced, field, record, members = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
  i = i + 7
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now - window))
  for m = 0, members - 1 do
    redis.call('ZADD', key, 'NX', now, ARGV[i + m])
  end
  i = i + members
  local count = redis.call('ZCARD', key)
  local until_ms = 0
  if count >= limit then
    until_ms = now + cool
    redis.call('DEL', key) -- tripped: counting starts again
    if enforced == '1' then
      record_trip(field, record, now, until_ms)
    end
  else
    redis.call('PEXPIRE', key, window)
  end
  out[#out + 1] = {count, string.format('%d', until_ms)}
end
forget_ended_trips(now)
out[#out + 1] = string.format('%d', now)
return out
