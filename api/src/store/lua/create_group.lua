-- ARGV: P, now, name key, name, admin id. The admin becomes a member.
local shut = closed() if shut then return err(shut) end
-- A retry of a create made already (Idempotency-Key): nothing is made.
local replay = idem_replay()
if replay then return replay end
if redis.call('HEXISTS', P .. 'idx:group_name', ARGV[3]) == 1 then return err('NAME_TAKEN') end
local admin = ARGV[5]
local role = redis.call('HGET', k('user', admin), 'role')
if not role then return err('ADMIN_NOT_FOUND') end
if role ~= 'group_admin' and role ~= 'owner' then return err('ADMIN_ROLE') end
local id = redis.call('INCR', P .. 'seq:groups')
redis.call('HSET', k('group', id), 'id', id, 'name', ARGV[4], 'name_key', ARGV[3], 'admin_id', admin,
  'created_at', NOW, 'updated_at', NOW)
redis.call('HSET', P .. 'idx:group_name', ARGV[3], id)
redis.call('SADD', P .. 'groups', id)
redis.call('SADD', k('user', admin, 'admin_of'), id)
redis.call('SADD', k('group', id, 'members'), admin)
redis.call('SADD', k('user', admin, 'groups'), id)
dirty_group(id, 'created')
touch_user(admin, nil, {tostring(id)})
idem_record(id)
return {'OK', id}
