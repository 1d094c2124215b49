-- Ends sessions (POST /auth/logout).
-- KEYS[1] the user's session set, KEYS[2] the change log.
-- ARGV[1] the session key prefix (`P session:`), ARGV[2] a session id, or
-- '' for every session of the user, ARGV[3] the user's id, ARGV[4] the
-- request's context ("actor auth token request", see common.lua),
-- ARGV[5] the time.
-- Returns how many sessions were ended. An end is logged (type `session`,
-- no session id: readers only need to know the user's credentials
-- changed, and close the live feeds that stood on them).
local ended = 0
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[2])
  ended = redis.call('DEL', ARGV[1] .. ARGV[2])
else
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    ended = ended + redis.call('DEL', ARGV[1] .. sid)
  end
  redis.call('DEL', KEYS[1])
end
if ended > 0 then
  local actor, auth, token, request = string.match(ARGV[4], '^(%S*) (%S*) (%S*) (%S*)$')
  redis.call('XADD', KEYS[2], '*', 'type', 'session', 'op', 'deleted', 'id', ARGV[3], 'actor', actor,
    'auth', auth, 'token', token, 'request', request, 'at', ARGV[5], 'user', ARGV[3])
end
return ended
