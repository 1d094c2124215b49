-- ARGV: P, instance id, ttl in ms. Takes or renews the lease of the active
-- syncd. Returns the fencing token (> 0) while this instance holds the
-- lease, 0 when another one does. A new holder gets a new, larger token.
local P, me, ttl = ARGV[1], ARGV[2], ARGV[3]
local key = P .. 'syncd:lease'
local cur = redis.call('GET', key)
if not cur then
  local token = redis.call('INCR', P .. 'syncd:fence')
  redis.call('SET', key, me .. '|' .. token, 'PX', ttl)
  return token
end
local prefix = me .. '|'
if string.sub(cur, 1, #prefix) == prefix then
  redis.call('PEXPIRE', key, ttl)
  return tonumber(string.sub(cur, #prefix + 1))
end
return 0
