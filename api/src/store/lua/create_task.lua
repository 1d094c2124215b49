-- ARGV: P, now, user id, group id, caller who must administer the group
-- ('' when not required), title, priority, deadline, information.
local uid, gid, caller = ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', k('user', uid)) == 0 then return err('USER_NOT_FOUND') end
if redis.call('EXISTS', k('group', gid)) == 0 then return err('GROUP_NOT_FOUND') end
if redis.call('SISMEMBER', k('user', uid, 'groups'), gid) == 0 then return err('NOT_MEMBER') end
if caller ~= '' and redis.call('SISMEMBER', k('user', caller, 'admin_of'), gid) == 0 then
  return err('FORBIDDEN_GROUP')
end
local id = redis.call('INCR', P .. 'seq:tasks')
task_put({id = id, title = ARGV[6], status = false, priority = tonumber(ARGV[7]), deadline = ARGV[8],
  information = ARGV[9], user_id = tonumber(uid), group_id = tonumber(gid), created_at = NOW, updated_at = NOW})
redis.call('SADD', k('user', uid, 'tasks'), id)
redis.call('SADD', k('group', gid, 'tasks'), id)
redis.call('SADD', P .. 'tasks', id)
dirty('task', id, 'upsert')
return {'OK', id}
