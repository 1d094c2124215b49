-- Prepended to every script (see api/src/store/mod.rs). ARGV[1] is the key
-- prefix; for writes ARGV[2] is the current time (RFC 3339). The key layout
-- is documented in shared/src/keys.rs.
--
-- Scripts build key names from the prefix instead of declaring KEYS: the
-- api targets a single Redis server (not Cluster), and a script's keys
-- depend on what it reads (a user's groups, a group's tasks).
local P = ARGV[1]
local NOW = ARGV[2]

local function k(...)
  return P .. table.concat({...}, ':')
end

local PLURAL = {user = 'users', group = 'groups', task = 'tasks'}

-- Marks a row dirty for syncd and announces it. Every write calls this for
-- every row it changes, deletes included.
local function dirty(t, id, op)
  redis.call('SADD', P .. 'dirty:' .. PLURAL[t], id)
  redis.call('PUBLISH', P .. 'events', '{"type":"' .. t .. '","id":' .. id .. ',"op":"' .. op .. '"}')
end

local function err(code, detail)
  return {'ERR', code, tostring(detail or '')}
end

-- Deletes a task row and its index entries.
local function delete_task(tid)
  local key = k('task', tid)
  local f = redis.call('HMGET', key, 'user_id', 'group_id')
  if f[1] then redis.call('SREM', k('user', f[1], 'tasks'), tid) end
  if f[2] then redis.call('SREM', k('group', f[2], 'tasks'), tid) end
  redis.call('DEL', key)
  redis.call('SREM', P .. 'tasks', tid)
  dirty('task', tid, 'delete')
end

local function min_member(setkey)
  local best = nil
  for _, v in ipairs(redis.call('SMEMBERS', setkey)) do
    local n = tonumber(v)
    if best == nil or n < best then best = n end
  end
  return best
end

-- Removes user uid from group gid. The user's tasks in gid move to the
-- user's lowest-id remaining group, or are deleted when none remains.
-- Returns how many tasks were affected.
local function leave_group(uid, gid)
  redis.call('SREM', k('user', uid, 'groups'), gid)
  redis.call('SREM', k('group', gid, 'members'), uid)
  local tids = redis.call('SINTER', k('user', uid, 'tasks'), k('group', gid, 'tasks'))
  local target = min_member(k('user', uid, 'groups'))
  for _, tid in ipairs(tids) do
    if target then
      redis.call('SREM', k('group', gid, 'tasks'), tid)
      redis.call('HSET', k('task', tid), 'group_id', target, 'updated_at', NOW)
      redis.call('SADD', k('group', target, 'tasks'), tid)
      dirty('task', tid, 'upsert')
    else
      delete_task(tid)
    end
  end
  return #tids
end

-- caller is 'owner' or a user id. A task may be changed by the owner, by
-- its own user, and by an admin of the task's group.
local function can_modify(caller, task_user, task_group)
  if caller == 'owner' or caller == task_user then return true end
  return redis.call('SISMEMBER', k('user', caller, 'admin_of'), task_group) == 1
end

local function touch_user(uid)
  redis.call('HSET', k('user', uid), 'updated_at', NOW)
  dirty('user', uid, 'upsert')
end
