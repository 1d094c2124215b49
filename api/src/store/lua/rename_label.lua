-- ARGV: P, now, group id, caller who must administer the group ('' for
-- the owner), from, to (both valid labels, checked by the api).
-- Every task of the group carrying `from` carries `to` instead (merged
-- when it had both), in this one step: a task changed meanwhile is
-- renamed as it is now, and no task is ever seen with half a rename.
-- Returns {'OK', how many tasks carried `from`}.
if maintenance() then return err('MAINTENANCE') end
local gid, caller, from, to = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', k('group', gid)) == 0 then return err('GROUP_NOT_FOUND') end
if caller ~= '' and redis.call('SISMEMBER', k('user', caller, 'admin_of'), gid) == 0 then
  return err('FORBIDDEN')
end
local tids = redis.call('SMEMBERS', k('group', gid, 'label', from))
if from == to then return {'OK', #tids} end
for _, tid in ipairs(tids) do
  local t = task_get(tid)
  if t then
    local old = t.labels
    local before = task_snapshot(t)
    local renamed, seen = {}, {}
    for _, l in ipairs(old) do
      if l == from then l = to end
      if not seen[l] then
        seen[l] = true
        renamed[#renamed + 1] = l
      end
    end
    if not seen[to] then renamed[#renamed + 1] = to end
    table.sort(renamed, bytes_less)
    t.labels = renamed
    t.updated_at = NOW
    dirty_task(tid, 'updated', string.format('%d', t.user_id), gid, task_put(t, gid, old), nil,
      task_changes(before, t))
  end
end
return {'OK', #tids}
