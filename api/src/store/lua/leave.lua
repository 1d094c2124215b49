-- A member leaving a group, in steps: what remove_member.lua,
-- update_user.lua and leave_step.lua share (after common.lua, whose
-- task_get, task_put, delete_task and dirty_task it uses). Only those
-- scripts carry it, so no other script's prelude grows by it.

local function min_member(setkey)
  local best = nil
  for _, v in ipairs(redis.call('SMEMBERS', setkey)) do
    local n = tonumber(v)
    if best == nil or n < best then best = n end
  end
  return best
end

-- A leave's tasks go in steps: each moves or deletes at most LEAVE_MOVES
-- of them (~25 µs each) and looks at most LEAVE_SCANS ids, about 2.5 ms
-- of Redis.
local LEAVE_MOVES, LEAVE_SCANS = 100, 1000

-- One step of user uid leaving group gid (see leave_group), moving or
-- deleting at most `budget` tasks: it goes on through the `SSCAN` its
-- record in `P leaving` names and updates the record, or deletes it when
-- the scan is through. Returns how many tasks it moved or deleted, and
-- whether any may be left.
local function leave_step(uid, gid, budget)
  local field = uid .. ':' .. gid
  local record = redis.call('HGET', P .. 'leaving', field)
  if not record then return 0, false end
  -- Back in the group, or either gone: what is left stays, or went too.
  if redis.call('SISMEMBER', k('group', gid, 'members'), uid) == 1
      or redis.call('EXISTS', k('user', uid)) == 0 or redis.call('EXISTS', k('group', gid)) == 0 then
    redis.call('HDEL', P .. 'leaving', field)
    return 0, false
  end
  if budget <= 0 then return 0, true end
  local which, cursor = string.match(record, '^(%a) (%d+)')
  local scan, other = k('user', uid, 'tasks'), k('group', gid, 'tasks')
  if which == 'g' then scan, other = other, scan end
  local target = min_member(k('user', uid, 'groups'))
  local moved, seen = 0, 0
  repeat
    local got = redis.call('SSCAN', scan, cursor, 'COUNT', 100)
    cursor = got[1]
    for _, tid in ipairs(got[2]) do
      seen = seen + 1
      -- A repeat of the scan's is no longer in both sets.
      if redis.call('SISMEMBER', other, tid) == 1 then
        moved = moved + 1
        if target then
          redis.call('SREM', k('group', gid, 'tasks'), tid)
          local t = task_get(tid)
          local before = task_snapshot(t)
          t.group_id = target
          t.updated_at = NOW
          local row = task_put(t, gid, t.labels)
          redis.call('SADD', k('group', target, 'tasks'), tid)
          dirty_task(tid, 'updated', uid, string.format('%d', target), row, gid, task_changes(before, t))
        else
          delete_task(tid)
        end
      end
    end
  until cursor == '0' or moved >= budget or seen >= LEAVE_SCANS
  if cursor == '0' then
    redis.call('HDEL', P .. 'leaving', field)
    return moved, false
  end
  redis.call('HSET', P .. 'leaving', field, which .. ' ' .. cursor .. ' ' .. redis.call('TIME')[1])
  return moved, true
end

-- Removes user uid from group gid. The user's tasks in gid move to the
-- user's lowest-id remaining group, or are deleted when none remains.
-- The membership goes now, and with it any way for a task of the user to
-- enter the group; the tasks go in steps (leave_step), the first of at
-- most `budget` (LEAVE_MOVES when nil) in this one. `P leaving` records
-- a leave until its last step, which the api runs on (and resumes, when
-- an api stopped midway or a restore found tasks outside their user's
-- groups). Returns how many tasks this step moved or deleted, and
-- whether any may be left.
local function leave_group(uid, gid, budget)
  redis.call('SREM', k('user', uid, 'groups'), gid)
  redis.call('SREM', k('group', gid, 'members'), uid)
  local mine, theirs = redis.call('SCARD', k('user', uid, 'tasks')), redis.call('SCARD', k('group', gid, 'tasks'))
  if mine == 0 or theirs == 0 then return 0, false end
  -- Through the smaller set: its tasks in the group are among its ids.
  local which = 'u'
  if theirs < mine then which = 'g' end
  redis.call('HSET', P .. 'leaving', uid .. ':' .. gid, which .. ' 0 0')
  return leave_step(uid, gid, budget or LEAVE_MOVES)
end
