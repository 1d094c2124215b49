-- ARGV: P, now, email key, full_name, email, role, number, pw, work_times, group ids...
local shut = closed() if shut then return err(shut) end
-- A retry of a create made already (Idempotency-Key): nothing is made.
local replay = idem_replay()
if replay then return replay end
local ek = ARGV[3]
if redis.call('HEXISTS', P .. 'idx:email', ek) == 1 then return err('EMAIL_TAKEN') end
for i = 10, #ARGV do
  if redis.call('EXISTS', k('group', ARGV[i])) == 0 then return err('GROUP_NOT_FOUND', ARGV[i]) end
end
local id = redis.call('INCR', P .. 'seq:users')
redis.call('HSET', k('user', id), 'id', id, 'full_name', ARGV[4], 'email', ARGV[5], 'email_key', ek,
  'role', ARGV[6], 'number', ARGV[7], 'pw', ARGV[8], 'work_times', ARGV[9], 'active', '1',
  'created_at', NOW, 'updated_at', NOW)
redis.call('SET', k('user', id, 'cv'), 1)
redis.call('HSET', P .. 'idx:email', ek, id)
redis.call('SADD', P .. 'users', id)
for i = 10, #ARGV do
  redis.call('SADD', k('user', id, 'groups'), ARGV[i])
  redis.call('SADD', k('group', ARGV[i], 'members'), id)
end
dirty_user(id, 'created')
idem_record(id)
return {'OK', id}
