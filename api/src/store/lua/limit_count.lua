-- Counts one attempt on each counter in KEYS, in one step, with the rate
-- limiter's GCRA (gcra.lua, prepended): KEYS[i] lets ARGV[2i] attempts
-- through at once, then one more every ARGV[2i - 1] ms. Returns, per
-- counter, 0 when the attempt was let through (and counted), otherwise the
-- ms until one would be (a refused attempt is not counted: waiting it out
-- is enough).
local waits = {}
for i, key in ipairs(KEYS) do
  local r = gcra(key, tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]), 1)
  if r[1] == 1 then waits[i] = 0 else waits[i] = math.max(1, r[4]) end
end
return waits
