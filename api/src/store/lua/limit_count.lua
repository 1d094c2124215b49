-- Counts one attempt on each counter in KEYS, in one step.
-- ARGV[1]: the window in ms (a counter's life from its first attempt);
-- ARGV[1 + i]: how many attempts KEYS[i] allows in its window.
-- Returns, per counter, 0 while within its limit, otherwise the ms until
-- it runs out (its window's rest).
local window = tonumber(ARGV[1])
local waits = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('PEXPIRE', key, window)
  end
  local wait = 0
  if n > tonumber(ARGV[1 + i]) then
    wait = redis.call('PTTL', key)
    if wait < 0 then
      -- A counter without its expiry (it cannot be made so by this
      -- script, but a stray one must not block forever).
      redis.call('PEXPIRE', key, window)
      wait = window
    end
  end
  waits[i] = wait
end
return waits
