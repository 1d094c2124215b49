-- One script for every task change after creation, so that the rules are
-- written once: update, mark_done and delete, of one task (through its
-- user's path) or of a batch. All or nothing: every task is checked before
-- any is changed.
--
-- ARGV: P, now, action (update|mark_done|delete), caller ('owner' or a user
--   id), path user id ('' for a batch), new group id ('' = keep), n ids,
--   ids..., then field/value pairs to set (update only).
-- Returns {'OK', rows...} (the rows' JSON after the change, or before a delete),
-- or {'ERR', 'REFUSED', reason, task id, ...} listing every refused task.
if maintenance() then return err('MAINTENANCE') end
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
  local t = task_get(tid)
  local cur = {}
  if t then cur = {string.format('%d', t.user_id), string.format('%d', t.group_id)} end
  if not t or (path_user ~= '' and cur[1] ~= path_user) or not can_modify(caller, cur[1], cur[2]) then
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
  current[tid] = t
end
if #refused > 2 then return refused end

local out = {'OK'}
-- An update that changes nothing (no field, no group) writes nothing: the
-- rows are answered as they are, with no new `updated_at` and nothing
-- marked dirty for syncd.
if action == 'update' and new_group == '' and pairs_from > #ARGV then
  for _, tid in ipairs(ids) do
    out[#out + 1] = redis.call('GET', k('task', tid))
  end
  return out
end
for _, tid in ipairs(ids) do
  local t = current[tid]
  if action == 'delete' then
    out[#out + 1] = redis.call('GET', k('task', tid))
    delete_task(tid)
  else
    local old_group = string.format('%d', t.group_id)
    if new_group ~= '' and new_group ~= old_group then
      redis.call('SREM', k('group', old_group, 'tasks'), tid)
      redis.call('SADD', k('group', new_group, 'tasks'), tid)
      t.group_id = tonumber(new_group)
    end
    if action == 'mark_done' then
      t.status = true
    else
      for i = pairs_from, #ARGV, 2 do
        local field, value = ARGV[i], ARGV[i + 1]
        if field == 'status' then
          t.status = (value == '1')
        elseif field == 'priority' then
          t.priority = tonumber(value)
        else
          t[field] = value
        end
      end
    end
    t.updated_at = NOW
    out[#out + 1] = task_put(t)
    dirty('task', tid, 'upsert')
  end
end
return out
