-- Opens a login session (see `P session:{sid}` in shared/src/keys/mod.rs).
-- KEYS[1] the user's credential version, KEYS[2] the user's session set,
-- KEYS[3] the new session.
-- ARGV[1] the credential version the password was checked against,
-- ARGV[2] the record, ARGV[3] its life (ms), ARGV[4] now (ms),
-- ARGV[5] the session id, ARGV[6] most sessions a user keeps,
-- ARGV[7] the session key prefix (`P session:`).
-- Returns 'OK', or 'STALE' when the credential changed since the check.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 'STALE'
end
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
-- Keep the set to live sessions, and to at most ARGV[6] of them: the
-- oldest are ended first. The set never holds more than one over the cap
-- before this runs, so the scan is bounded.
local most = tonumber(ARGV[6])
if redis.call('ZCARD', KEYS[2]) > most then
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', ARGV[7] .. sid) == 0 then
      redis.call('ZREM', KEYS[2], sid)
    end
  end
  while redis.call('ZCARD', KEYS[2]) > most do
    local oldest = redis.call('ZPOPMIN', KEYS[2])
    redis.call('DEL', ARGV[7] .. oldest[1])
  end
end
-- Never shortened (GT): it must outlive every session it lists, even
-- after REFRESH_TOKEN_TTL was lowered (a new set has no expiry: NX).
redis.call('PEXPIRE', KEYS[2], ttl, 'NX')
redis.call('PEXPIRE', KEYS[2], ttl, 'GT')
return 'OK'
