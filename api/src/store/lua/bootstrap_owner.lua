-- ARGV: P, now, email key, email, pw hash.
-- Creates the owner account once, ever: P meta:owner remembers its id and
-- the hash it was given. Returns {'OK', 'CREATED'|'EXISTS'|'ADOPTED', id,
-- hash given at creation, current hash}.
if maintenance() then return err('MAINTENANCE') end
local meta = P .. 'meta:owner'
local id = redis.call('HGET', meta, 'id')
if id then
  return {'OK', 'EXISTS', id, redis.call('HGET', meta, 'pw') or '', redis.call('HGET', k('user', id), 'pw') or ''}
end
local holder = redis.call('HGET', P .. 'idx:email', ARGV[3])
if holder then
  -- The address already belongs to an account (restored data, say): that
  -- account is the owner's; never overwrite it.
  redis.call('HSET', meta, 'id', holder, 'pw', '')
  return {'OK', 'ADOPTED', holder, '', redis.call('HGET', k('user', holder), 'pw') or ''}
end
id = redis.call('INCR', P .. 'seq:users')
redis.call('HSET', k('user', id), 'id', id, 'full_name', 'System Owner', 'email', ARGV[4], 'email_key', ARGV[3],
  'role', 'owner', 'number', '', 'pw', ARGV[5], 'work_times', '{}', 'active', '1',
  'created_at', NOW, 'updated_at', NOW)
redis.call('SET', k('user', id, 'cv'), 1)
redis.call('HSET', P .. 'idx:email', ARGV[3], id)
redis.call('SADD', P .. 'users', id)
redis.call('HSET', meta, 'id', id, 'pw', ARGV[5])
dirty_user(id, 'created')
return {'OK', 'CREATED', id, ARGV[5], ARGV[5]}
