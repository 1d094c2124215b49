-- Gives one counted attempt back (a login that succeeded): the counter's
-- theoretical arrival time (see gcra.lua) moves back one interval,
-- ARGV[1] ms; a counter back at a full burst is deleted.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if not tat then return 0 end
local back = tat - tonumber(ARGV[1])
if back <= now then
  redis.call('DEL', KEYS[1])
else
  redis.pcall('SET', KEYS[1], string.format('%.3f', back), 'PX', math.max(1, math.ceil(back - now)))
end
return 0
