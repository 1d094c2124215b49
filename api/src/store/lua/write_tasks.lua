-- One script for every task change after creation, so that the rules are
-- written once: update, mark_done and delete, of one task (through its
-- user's path) or of a batch. All or nothing: every task is checked before
-- any is changed.
--
-- ARGV: P, now, action (update|mark_done|delete), caller ('owner' or a user
--   id), path user id ('' for a batch), new group id ('' = keep), n ids,
--   ids..., then field/value pairs to set (update only).
-- Returns {'OK', rows...} (the rows after the change, or before a delete),
-- or {'ERR', 'REFUSED', reason, task id, ...} listing every refused task.
local action, caller, path_user, new_group = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local n = tonumber(ARGV[7])
local ids = {}
for i = 8, 7 + n do ids[#ids + 1] = ARGV[i] end
local pairs_from = 8 + n

if new_group ~= '' and redis.call('EXISTS', k('group', new_group)) == 0 then
  return err('GROUP_NOT_FOUND', new_group)
end

local refused = {'ERR', 'REFUSED'}
local current = {}
for _, tid in ipairs(ids) do
  local cur = redis.call('HMGET', k('task', tid), 'user_id', 'group_id')
  if not cur[1] or (path_user ~= '' and cur[1] ~= path_user) or not can_modify(caller, cur[1], cur[2]) then
    -- Not revealed: a task the caller may not change is "not found".
    refused[#refused + 1] = 'NOT_FOUND'
    refused[#refused + 1] = tid
  elseif new_group ~= '' and new_group ~= cur[2] then
    if redis.call('SISMEMBER', k('user', cur[1], 'groups'), new_group) == 0 then
      refused[#refused + 1] = 'NOT_MEMBER'
      refused[#refused + 1] = tid
    elseif caller ~= 'owner' and caller ~= cur[1]
        and redis.call('SISMEMBER', k('user', caller, 'admin_of'), new_group) == 0 then
      refused[#refused + 1] = 'FORBIDDEN_GROUP'
      refused[#refused + 1] = tid
    end
  end
  current[tid] = cur
end
if #refused > 2 then return refused end

local out = {'OK'}
for _, tid in ipairs(ids) do
  local key = k('task', tid)
  if action == 'delete' then
    out[#out + 1] = redis.call('HGETALL', key)
    delete_task(tid)
  else
    local cur = current[tid]
    if new_group ~= '' and new_group ~= cur[2] then
      redis.call('SREM', k('group', cur[2], 'tasks'), tid)
      redis.call('SADD', k('group', new_group, 'tasks'), tid)
      redis.call('HSET', key, 'group_id', new_group)
    end
    if action == 'mark_done' then
      redis.call('HSET', key, 'status', 1)
    else
      for i = pairs_from, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
    end
    redis.call('HSET', key, 'updated_at', NOW)
    dirty('task', tid, 'upsert')
    out[#out + 1] = redis.call('HGETALL', key)
  end
end
return out
