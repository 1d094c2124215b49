-- ARGV: P, now, id (`{id} {updated_at}` for a conditional write, see
-- id_and_guard), new name ('' = keep), new name key, new admin id ('' = keep).
local shut = closed() if shut then return err(shut) end
local id, guard = id_and_guard(ARGV[3])
local key = k('group', id)
if redis.call('EXISTS', key) == 0 then return err('NOT_FOUND') end
if not unchanged(key, guard) then return err('PRECONDITION') end
local cur = redis.call('HMGET', key, 'name_key', 'admin_id')
if ARGV[4] ~= '' then
  local holder = redis.call('HGET', P .. 'idx:group_name', ARGV[5])
  if holder and holder ~= id then return err('NAME_TAKEN') end
end
local new_admin = ARGV[6]
if new_admin ~= '' and new_admin ~= cur[2] then
  local role = redis.call('HGET', k('user', new_admin), 'role')
  if not role then return err('ADMIN_NOT_FOUND') end
  if role ~= 'group_admin' and role ~= 'owner' then return err('ADMIN_ROLE') end
end
local before = hash_state(key)
if ARGV[4] ~= '' then
  if cur[1] ~= ARGV[5] then redis.call('HDEL', P .. 'idx:group_name', cur[1]) end
  redis.call('HSET', P .. 'idx:group_name', ARGV[5], id)
  redis.call('HSET', key, 'name', ARGV[4], 'name_key', ARGV[5])
end
if new_admin ~= '' and new_admin ~= cur[2] then
  redis.call('SREM', k('user', cur[2], 'admin_of'), id)
  redis.call('SADD', k('user', new_admin, 'admin_of'), id)
  redis.call('HSET', key, 'admin_id', new_admin)
  if redis.call('SADD', k('group', id, 'members'), new_admin) == 1 then
    redis.call('SADD', k('user', new_admin, 'groups'), id)
    touch_user(new_admin, nil, {id})
  end
end
redis.call('HSET', key, 'updated_at', NOW)
dirty_group(id, 'updated', hash_changes(before, hash_state(key)))
return {'OK'}
