-- Rotates a session's tokens (POST /auth/refresh).
-- KEYS[1] the session, KEYS[2] the user's credential version, KEYS[3] the
-- user's session set.
-- ARGV[1] the user id the token names, ARGV[2] the digest of the refresh
-- secret presented, ARGV[3] now (ms), ARGV[4] the new access token's expiry
-- (ms), ARGV[5] its digest, ARGV[6] the new refresh digest, ARGV[7] the
-- session's new life (ms), ARGV[8] the session id; KEYS[4] the client's
-- rate-limit key, ARGV[9] its interval (ms), ARGV[10] its burst (see
-- gcra.lua: the count comes first, so that a refused refresh rotates
-- nothing).
-- Returns {outcome, then gcra's numbers}: 'OK', or 'LIMITED', 'NO_SESSION', 'REUSED' (a refresh token that was already
-- rotated: the session is ended, as someone else may hold it), 'STALE'
-- (the credential changed: the session is ended).
local count = gcra(KEYS[4], tonumber(ARGV[9]), tonumber(ARGV[10]), 1)
local function answer(outcome)
  return {outcome, unpack(count)}
end
if count[1] == 0 then
  return answer('LIMITED')
end
local record = redis.call('GET', KEYS[1])
if not record then
  return answer('NO_SESSION')
end
local uid, cv, role, aexp, ahash, _, _, rhash =
  string.match(record, '^(%d+) (%d+) (%S+) (%d+) (%x+) (%d+) (%x+) (%x+)$')
if not uid or uid ~= ARGV[1] then
  return answer('NO_SESSION')
end
local function ended(why)
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[8])
  return answer(why)
end
if rhash ~= ARGV[2] then
  return ended('REUSED')
end
if redis.call('GET', KEYS[2]) ~= cv then
  return ended('STALE')
end
-- The access token being replaced stays valid until its own expiry.
local fresh = table.concat({uid, cv, role, ARGV[4], ARGV[5], aexp, ahash, ARGV[6]}, ' ')
redis.call('SET', KEYS[1], fresh, 'PX', tonumber(ARGV[7]))
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[7]), 'GT')
return answer('OK')
