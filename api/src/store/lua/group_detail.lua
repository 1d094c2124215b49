-- ARGV: P, group id. Returns {} or {fields, members count, tasks count, {admin id, full_name, email}}.
local key = k('group', ARGV[2])
local row = redis.call('HGETALL', key)
if #row == 0 then return {} end
local admin = redis.call('HGET', key, 'admin_id')
local a = redis.call('HMGET', k('user', admin), 'id', 'full_name', 'email')
local admin_info = {}
if a[1] then admin_info = {a[1], a[2], a[3]} end
return {row, redis.call('SCARD', k('group', ARGV[2], 'members')),
  redis.call('SCARD', k('group', ARGV[2], 'tasks')), admin_info}
