-- The rate limiter: GCRA (the generic cell rate algorithm), prepended to
-- the scripts that meter a request (`meter.lua`, `create_tasks.lua`,
-- `session_refresh.lua`) and to the login limiter's (`limit_*.lua`). A key holds the theoretical arrival time (TAT,
-- ms on Redis's clock, shared by every api instance) of the next request
-- at the steady rate; a request is let through while that time is less
-- than `burst` intervals ahead of now.
--
-- gcra(key, interval ms, burst, want) takes up to `want` requests' worth
-- at once (at least one, or none): an api shard keeps what it took beyond
-- the first for its next requests of the same principal (a lease, see
-- api/src/ratelimit.rs), so that a busy principal costs one script call
-- per lease, not per request. Returns {1 let through or 0 refused,
-- requests left in the burst after this take, ms until the burst is whole
-- again, ms until the next request would be let through (0 when let
-- through), how many were taken}.
-- Redis's clock, in ms.
local function gcra_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Stores a key's arrival time `tat`; the key lives exactly until then, so
-- its TTL tells how far ahead it is. A Redis out of memory refuses the
-- write: the request is let through uncounted (whatever it writes is
-- refused in its turn), so that reads keep working while an operator
-- makes room.
local function gcra_store(key, tat, now)
  redis.pcall('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
end

local function gcra(key, interval, burst, want)
  local now = gcra_now()
  local tat = tonumber(redis.call('GET', key) or '') or now
  if tat < now then tat = now end
  local span = interval * burst
  -- Whole requests that fit before the burst is used up (the epsilon
  -- absorbs the rounding of a stored fractional time).
  local room = math.floor((now + span - tat) / interval + 1e-6)
  if room < 1 then
    return {0, 0, math.ceil(tat - now), math.ceil(tat + interval - span - now), 0}
  end
  local n = math.min(math.max(1, want or 1), room)
  local after = tat + n * interval
  gcra_store(key, after, now)
  return {1, room - n, math.ceil(after - now), 0, n}
end
