-- ARGV: P, user id ('' to look up by email), email key.
-- Returns {} or {id, pw, role, cv, {groups}, {admin_of}}.
local id = ARGV[2]
if id == '' then
  id = redis.call('HGET', P .. 'idx:email', ARGV[3])
  if not id then return {} end
end
local f = redis.call('HMGET', k('user', id), 'pw', 'role', 'cv')
if not f[1] then return {} end
return {id, f[1], f[2], f[3] or '0',
  redis.call('SMEMBERS', k('user', id, 'groups')),
  redis.call('SMEMBERS', k('user', id, 'admin_of'))}
