-- Ends sessions (POST /auth/logout).
-- KEYS[1] the user's session set.
-- ARGV[1] the session key prefix (`P session:`), ARGV[2] a session id, or
-- '' for every session of the user.
-- Returns how many sessions were ended.
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return redis.call('DEL', ARGV[1] .. ARGV[2])
end
local ended = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  ended = ended + redis.call('DEL', ARGV[1] .. sid)
end
redis.call('DEL', KEYS[1])
return ended
