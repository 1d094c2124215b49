-- ARGV: P, now, then five for each task to create: user id, group id, the
-- caller who must administer the group ('' when not required), the
-- credential version the user must still have ('' when not required: the
-- api checked the caller in an earlier step), and the row's JSON after its
-- id: `,"title":…,"updated_at":"…"}` (built by the api, so Redis neither
-- encodes JSON nor formats numbers here).
--
-- The creates an api shard gathered (see api/src/creates.rs), in one
-- atomic step. Each is checked and answered on its own: the reply holds,
-- after 'OK', one entry per task in order, its new id or the code of the
-- rule that refused it (nothing of it is then written). The accepted ones
-- share the counter, index and dirty-set calls.
if maintenance() then return err('MAINTENANCE') end
local n = (#ARGV - 2) / 5
local out = {'OK'}
-- Nothing a check reads changes within this step, so each distinct check
-- runs once (a client creating many tasks pays for one).
local verdicts = {}
local function check(uid, gid, caller, guard)
  local ukey = P .. 'user:' .. uid
  if guard ~= '' and redis.call('HGET', ukey, 'cv') ~= guard then
    return 'STALE_CREDENTIALS'
  end
  -- A member of an existing group is an existing user (memberships go
  -- with the user or the group), so the existence checks only decide
  -- which refusal to give.
  if redis.call('SISMEMBER', ukey .. ':groups', gid) == 0 then
    if redis.call('EXISTS', ukey) == 0 then return 'USER_NOT_FOUND' end
    if redis.call('EXISTS', P .. 'group:' .. gid) == 0 then return 'GROUP_NOT_FOUND' end
    return 'NOT_MEMBER'
  end
  if caller ~= '' and redis.call('SISMEMBER', P .. 'user:' .. caller .. ':admin_of', gid) == 0 then
    return 'FORBIDDEN_GROUP'
  end
  return false
end
local accepted = {}
for i = 0, n - 1 do
  local b = 3 + i * 5
  local key = ARGV[b] .. ' ' .. ARGV[b + 1] .. ' ' .. ARGV[b + 2] .. ' ' .. ARGV[b + 3]
  local refused = verdicts[key]
  if refused == nil then
    refused = check(ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3])
    verdicts[key] = refused
  end
  if refused then
    out[i + 2] = refused
  else
    accepted[#accepted + 1] = i
  end
end
if #accepted == 0 then return out end
local last = redis.call('INCRBY', P .. 'seq:tasks', #accepted)
local ids = {}
local changed = {}
for j, i in ipairs(accepted) do
  local b = 3 + i * 5
  local uid, gid = ARGV[b], ARGV[b + 1]
  local ukey = P .. 'user:' .. uid
  local id = string.format('%d', last - #accepted + j)
  ids[j] = id
  out[i + 2] = id
  redis.call('SET', P .. 'task:' .. id, '{"id":' .. id .. ARGV[b + 4])
  redis.call('SADD', ukey .. ':tasks', id)
  redis.call('SADD', P .. 'group:' .. gid .. ':tasks', id)
  if not changed[uid] then
    changed[uid] = true
    tasks_changed(uid)
  end
  announce('task', id, 'upsert')
end
-- Marked dirty all at once (what dirty() does for one row).
redis.call('SADD', P .. 'tasks', unpack(ids))
redis.call('SADD', P .. 'dirty:tasks', unpack(ids))
return out
