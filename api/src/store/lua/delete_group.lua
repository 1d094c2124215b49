-- ARGV: P, now, id (`{id} {updated_at}` for a conditional write, see
-- id_and_guard), the most tasks one step deletes ('0': all). Removes the
-- group from its members and deletes its tasks.
local shut = closed() if shut then return err(shut) end
local id, guard = id_and_guard(ARGV[3])
local key = k('group', id)
if redis.call('EXISTS', key) == 0 then return err('NOT_FOUND') end
if not unchanged(key, guard) then return err('PRECONDITION') end
-- A group with many tasks goes in steps, as a user does (delete_user.lua).
local step = tonumber(ARGV[4]) or 0
if step > 0 and redis.call('SCARD', k('group', id, 'tasks')) > step then
  for _, tid in ipairs(redis.call('SRANDMEMBER', k('group', id, 'tasks'), step)) do delete_task(tid) end
  return {'OK', 'MORE'}
end
local row = redis.call('HGETALL', key)
local logged_row = '{' .. table.concat(hash_row(key), ',') .. '}'
local members = redis.call('SMEMBERS', k('group', id, 'members'))
-- The tasks go first, then the members (each logged as no longer in
-- the group), then the group: a reader sees the log in that order.
local tasks = redis.call('SMEMBERS', k('group', id, 'tasks'))
for _, tid in ipairs(tasks) do delete_task(tid) end
-- Its webhooks go with it.
for _, hook in ipairs(redis.call('SMEMBERS', k('group', id, 'webhooks'))) do delete_webhook(hook) end
for _, u in ipairs(members) do
  redis.call('SREM', k('user', u, 'groups'), id)
  touch_user(u, {id})
end
local f = redis.call('HMGET', key, 'admin_id', 'name_key')
if f[1] then redis.call('SREM', k('user', f[1], 'admin_of'), id) end
if f[2] and redis.call('HGET', P .. 'idx:group_name', f[2]) == id then
  redis.call('HDEL', P .. 'idx:group_name', f[2])
end
redis.call('DEL', key, k('group', id, 'members'), k('group', id, 'tasks'), k('group', id, 'labels'),
  k('group', id, 'webhooks'))
redis.call('UNLINK', sort_keys(key))
redis.call('SREM', P .. 'groups', id)
dirty_group(id, 'deleted', logged_row)
return {'OK', row, #members, #tasks}
