-- Shared by the scripts that write the trading states hash (KEYS[1]: state.lua, reject.lua, loss.lua); prepended.

-- Redis time in ms: every sidecar agrees on when a state was set and when it ends
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- a state a rule set by itself (a reject storm, a daily loss): the record (JSON without at_ms and until_ms) under
-- its own field "<scope text>#<rule id>", beside whatever an operator set at the scope
local function record_trip(field, record, now, until_ms)
  local state = cjson.decode(record)
  state.at_ms = string.format('%d', now)
  state.until_ms = string.format('%d', until_ms)
  redis.call('HSET', KEYS[1], field, cjson.encode(state))
end

-- the states rules set that have ended go (reads ignore them already): the hash stays as small as what holds
local function forget_ended_trips(now)
  local states = redis.call('HGETALL', KEYS[1])
  for s = 1, #states, 2 do
    if string.find(states[s], '#', 1, true) then
      local ends = tonumber(cjson.decode(states[s + 1]).until_ms or '')
      if ends and ends <= now then
        redis.call('HDEL', KEYS[1], states[s])
      end
    end
  end
end
