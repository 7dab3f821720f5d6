-- clients: the open orders of one account that client order ids name (read only), for a view whose amends name
-- their order only so: the id lookup and the order's record in one script, so in the view's one round trip.
--
-- KEYS[1]  the account's :cid HASH (client order id -> order id)
-- KEYS[2]  the account's :open HASH (order id -> JSON record, account.lua)
-- ARGV     the client order ids
-- returns  per client id: order id, its JSON record ('' and '' when no open order has that name)

local out = {}
for i = 1, #ARGV do
  local id = redis.call('HGET', KEYS[1], ARGV[i])
  local raw = id and redis.call('HGET', KEYS[2], id)
  if raw then
    out[#out + 1] = id
    out[#out + 1] = raw
  else
    out[#out + 1] = ''
    out[#out + 1] = ''
  end
end
return out
