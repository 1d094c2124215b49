-- Gives one counted attempt back (a login that succeeded), never taking a
-- counter below zero nor making one that has run out live again.
local n = tonumber(redis.call('GET', KEYS[1]))
if n and n > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
