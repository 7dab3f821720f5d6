-- price: remember reference prices. A mark price is what positions are valued at; a last price only fills
-- in until a mark price is seen. Prices are stored as the exact text the venue sent, never computed on.
--
-- KEYS[1]  HASH "<venue>|<symbol>" -> "<kind>|<price>"
-- ARGV     triples: "<venue>|<symbol>", kind ("mark" or "last"), price text

for i = 1, #ARGV, 3 do
  local field, kind = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', KEYS[1], field)
  if kind == 'mark' or not current or string.sub(current, 1, 5) ~= 'mark|' then
    redis.call('HSET', KEYS[1], field, kind .. '|' .. ARGV[i + 2])
  end
end
return #ARGV / 3
