-- One script for every task change after creation, so that the rules are
-- written once: update, mark_done and delete, of one task (through its
-- user's path) or of a batch. All or nothing: every task is checked before
-- any is changed.
--
-- ARGV: P, now, action (update|mark_done|delete), caller ('owner' or a user
--   id), path user id ('' for a batch), new group id ('' = keep), the most
--   tasks a group may hold ('0': no limit), the row the one task must
--   still be (its JSON as stored, from `If-Match`; '' for none), n ids,
--   ids..., then field/value pairs to set (update only): title, priority,
--   deadline, information as stored; state (todo|in_progress|done);
--   status ('1' or '0'); labels (the new set), add_labels, remove_labels
--   (each a set joined by newlines, sorted, at most 20 for `labels`).
-- Returns {'OK', rows...} (the rows' JSON after the change, or before a delete),
-- or {'ERR', 'REFUSED', reason, task id, ...} listing every refused task.
--
-- `state` and the reference's `status` are one fact (status is true
-- exactly when the state is done). `status: true` moves a task to done,
-- `status: false` moves a done task back to todo. When both are sent and
-- disagree, the one that changes the task wins: a client that read a task
-- and sends it back whole with only `status` changed (or only `state`)
-- means that change; if both would change it, `state` wins.
local shut = closed() if shut then return err(shut) end
local action, caller, path_user, new_group = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local group_quota = tonumber(ARGV[7])
local guard = ARGV[8]
local n = tonumber(ARGV[9])
local ids = {}
for i = 10, 9 + n do ids[#ids + 1] = ARGV[i] end
local pairs_from = 10 + n

if new_group ~= '' and redis.call('EXISTS', k('group', new_group)) == 0 then
  return err('GROUP_NOT_FOUND', new_group)
end

-- The changes of an update, decoded once.
local change = {add = {}, remove = {}}
for i = pairs_from, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  if field == 'status' then
    change.status = (value == '1')
  elseif field == 'priority' then
    change.priority = tonumber(value)
  elseif field == 'labels' then
    change.labels = split_labels(value)
  elseif field == 'add_labels' then
    change.add = split_labels(value)
  elseif field == 'remove_labels' then
    change.remove = split_labels(value)
  else
    change[field] = value
  end
end
local relabel = change.labels or #change.add > 0 or #change.remove > 0

-- The labels task t has after the change (a sorted set).
local function next_labels(t)
  local set = {}
  for _, l in ipairs(change.labels or t.labels) do set[l] = true end
  for _, l in ipairs(change.add) do set[l] = true end
  for _, l in ipairs(change.remove) do set[l] = nil end
  local out = {}
  for l in pairs(set) do out[#out + 1] = l end
  table.sort(out, bytes_less)
  return out
end

-- The state task t moves to (see the top of this script).
local function next_state(cur)
  if action == 'mark_done' then return 'done' end
  local s = change.state
  if change.status ~= nil then
    local by_status = cur
    if change.status then by_status = 'done' elseif cur == 'done' then by_status = 'todo' end
    if s == nil or ((s == 'done') ~= change.status and s == cur) then s = by_status end
  end
  return s or cur
end

local refused = {'ERR', 'REFUSED'}
local labels_after = {}
local current = {}
for _, tid in ipairs(ids) do
  local t, raw = task_get(tid)
  -- A conditional write (`If-Match`): the row must be as the caller saw it.
  if guard ~= '' and raw ~= guard then return err('PRECONDITION', tid) end
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
  if t and relabel then
    labels_after[tid] = next_labels(t)
    if #labels_after[tid] > 20 then
      refused[#refused + 1] = 'TOO_MANY_LABELS'
      refused[#refused + 1] = tid
    end
  end
  current[tid] = t
end
if #refused > 2 then return refused end
-- The tasks moving into the new group must fit its quota.
if new_group ~= '' and group_quota > 0 and action ~= 'delete' then
  local moving = 0
  for _, tid in ipairs(ids) do
    if current[tid]._group ~= new_group then moving = moving + 1 end
  end
  if moving > 0 and redis.call('SCARD', k('group', new_group, 'tasks')) + moving > group_quota then
    return err('GROUP_QUOTA', new_group)
  end
end

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
    local before = task_snapshot(t)
    local old_group = string.format('%d', t.group_id)
    if new_group ~= '' and new_group ~= old_group then
      redis.call('SREM', k('group', old_group, 'tasks'), tid)
      redis.call('SADD', k('group', new_group, 'tasks'), tid)
      t.group_id = tonumber(new_group)
    end
    local old_labels = t.labels
    if action == 'update' then
      for _, field in ipairs({'title', 'priority', 'deadline', 'information'}) do
        if change[field] ~= nil then t[field] = change[field] end
      end
      if relabel then t.labels = labels_after[tid] end
    end
    local state = next_state(t.state)
    if state == 'done' and t.state ~= 'done' then
      t.completed_at = NOW
    elseif state ~= 'done' then
      t.completed_at = nil
    end
    t.state = state
    t.updated_at = NOW
    local row = task_put(t, old_group, old_labels)
    out[#out + 1] = row
    dirty_task(tid, 'updated', string.format('%d', t.user_id), string.format('%d', t.group_id), row, old_group,
      task_changes(before, t))
  end
end
return out
