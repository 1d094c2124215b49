-- The rate limiter: GCRA (the generic cell rate algorithm), prepended to
-- the scripts that meter a request (`meter.lua`, `create_tasks.lua`,
-- `session_refresh.lua`). A key holds the theoretical arrival time (TAT,
-- ms on Redis's clock, shared by every api instance) of the next request
-- at the steady rate; a request is let through while that time is less
-- than `burst` intervals ahead of now.
--
-- gcra(key, interval ms, burst) returns {1 let through or 0 refused,
-- requests left in the burst, ms until the burst is whole again, ms until
-- the next request would be let through (0 when let through)}.
local function gcra(key, interval, burst)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or '') or now
  if tat < now then tat = now end
  local span = interval * burst
  local after = tat + interval
  if after - now > span then
    return {0, 0, math.ceil(tat - now), math.ceil(after - span - now)}
  end
  -- A Redis out of memory refuses the count's write: the request is let
  -- through uncounted (whatever it writes is refused in its turn), so
  -- that reads keep working while an operator makes room.
  redis.pcall('SET', key, string.format('%.3f', after), 'PX', math.max(1, math.ceil(after - now)))
  return {1, math.floor((span - (after - now)) / interval), math.ceil(after - now), 0}
end
