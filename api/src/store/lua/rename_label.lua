-- ARGV: P, now, group id, caller who must administer the group ('' for
-- the owner), from, to (both valid labels, checked by the api), the most
-- tasks this step renames.
-- Tasks of the group carrying `from` carry `to` instead (merged when they
-- had both): each task at once, as it is now, so none is ever seen with
-- half a rename, and a step renames at most ARGV[7] of them, so that no
-- step holds Redis for long. Returns {'OK', how many it renamed}, and
-- 'MORE' after it while a task carries `from`.
local shut = closed() if shut then return err(shut) end
local gid, caller, from, to = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', k('group', gid)) == 0 then return err('GROUP_NOT_FOUND') end
if caller ~= '' and redis.call('SISMEMBER', k('user', caller, 'admin_of'), gid) == 0 then
  return err('FORBIDDEN')
end
local set = k('group', gid, 'label', from)
if from == to then return {'OK', redis.call('SCARD', set)} end
local tids = redis.call('SRANDMEMBER', set, tonumber(ARGV[7]))
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
  -- (task_put took it out; a stale member goes too, so the rename ends.)
  redis.call('SREM', set, tid)
end
if redis.call('EXISTS', set) == 1 then return {'OK', #tids, 'MORE'} end
return {'OK', #tids}
