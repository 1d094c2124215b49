-- Gives one counted attempt back (a login that succeeded): the counter's
-- theoretical arrival time (see gcra.lua, prepended) moves back one
-- interval, ARGV[1] ms; a counter back at a full burst is deleted.
local now = gcra_now()
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if not tat then return 0 end
local back = tat - tonumber(ARGV[1])
if back <= now then
  redis.call('DEL', KEYS[1])
else
  gcra_store(KEYS[1], back, now)
end
return 0
