-- ARGV: P, now, id (`{id} {updated_at}` for a conditional write, see
--   id_and_guard), expected role ('' = any), new email ('' = keep),
--   new email key, new role ('' = keep), new pw hash ('' = keep),
--   the session that changes its own user's password and stays ('' = none),
--   active ('' = keep, '0' deactivate, '1' reactivate),
--   replace groups ('1' or ''), n groups, group ids..., then field/value pairs.
local shut = closed() if shut then return err(shut) end
local id, guard = id_and_guard(ARGV[3])
local key = k('user', id)
if redis.call('EXISTS', key) == 0 then return err('NOT_FOUND') end
if not unchanged(key, guard) then return err('PRECONDITION') end
local cur = redis.call('HMGET', key, 'role', 'email_key', 'active')
if ARGV[4] ~= '' and cur[1] ~= ARGV[4] then return err('CONFLICT') end
local ng = tonumber(ARGV[12])
local pairs_from = 13 + ng
if ARGV[11] == '1' then
  for i = 13, pairs_from - 1 do
    if redis.call('EXISTS', k('group', ARGV[i])) == 0 then return err('GROUP_NOT_FOUND', ARGV[i]) end
  end
end
if ARGV[5] ~= '' then
  local holder = redis.call('HGET', P .. 'idx:email', ARGV[6])
  if holder and holder ~= id then return err('EMAIL_TAKEN') end
end
-- Demoted to `user`: the groups it administers go to the owner account.
local admin_of, taker = {}, nil
if ARGV[7] == 'user' and cur[1] ~= 'user' then
  admin_of = redis.call('SMEMBERS', k('user', id, 'admin_of'))
  if #admin_of > 0 then
    taker = groups_taker(id)
    if not taker then return administers(admin_of) end
  end
end
-- Every check passed: apply.
local before = user_state(id)
if taker then hand_groups(id, taker, admin_of) end
if ARGV[5] ~= '' then
  if cur[2] and cur[2] ~= ARGV[6] then redis.call('HDEL', P .. 'idx:email', cur[2]) end
  redis.call('HSET', P .. 'idx:email', ARGV[6], id)
  redis.call('HSET', key, 'email', ARGV[5], 'email_key', ARGV[6])
end
local bump, role_changed = false, false
if ARGV[7] ~= '' and ARGV[7] ~= cur[1] then
  redis.call('HSET', key, 'role', ARGV[7])
  bump, role_changed = true, true
end
if ARGV[8] ~= '' then
  redis.call('HSET', key, 'pw', ARGV[8])
  bump = true
end
local was_active = cur[3] ~= '0'
local active = was_active
if ARGV[10] ~= '' then active = ARGV[10] == '1' end
if bump then
  -- Personal tokens carry the role they were made under and stand for the
  -- password: both changes revoke them.
  drop_tokens(id)
end
if not active then
  -- Deactivated: no credential of the user passes (version 0), and its
  -- sessions end; its tokens stay, inert, until it is reactivated.
  if was_active then
    redis.call('HSET', key, 'active', '0')
    redis.call('SET', k('user', id, 'cv'), 0)
    end_sessions(id)
  end
elseif not was_active then
  -- Reactivated: a version larger than any it had (Redis's clock in µs,
  -- see bump_cv), so nothing verified before the deactivation is current
  -- again.
  redis.call('HSET', key, 'active', '1')
  bump_cv(id)
elseif bump then
  -- A new version, and every session ends, except the session that
  -- changed its own password (and nothing else about its role): it moves
  -- on to the new version. (A session's own request reads only its record,
  -- so ending it means deleting it.)
  local was, cv = bump_cv(id)
  local kept = nil
  if ARGV[9] ~= '' and not role_changed then
    local skey = k('session', ARGV[9])
    local record = redis.call('GET', skey)
    local uid, old, rest = string.match(record or '', '^(%d+) (%d+) (.*)$')
    if uid == id and tonumber(old) == was then
      redis.call('SET', skey, string.format('%s %d %s', uid, cv, rest), 'KEEPTTL')
      kept = ARGV[9]
    end
  end
  end_sessions(id, kept)
end
-- Leaving groups: the first steps share one budget; the groups with tasks
-- left follow the count in the answer, for the api to step on.
local moved, left, budget, pending = 0, {}, LEAVE_MOVES, {}
if ARGV[11] == '1' then
  local want = {}
  for i = 13, pairs_from - 1 do
    want[ARGV[i]] = true
    redis.call('SADD', k('user', id, 'groups'), ARGV[i])
    redis.call('SADD', k('group', ARGV[i], 'members'), id)
  end
  for _, g in ipairs(redis.call('SMEMBERS', k('user', id, 'groups'))) do
    if not want[g] then
      left[#left + 1] = g
      -- Out of every group it leaves first, so that no task moves into
      -- one of them on its way out.
      redis.call('SREM', k('user', id, 'groups'), g)
    end
  end
  for _, g in ipairs(left) do
    local n, more = leave_group(id, g, budget)
    moved, budget = moved + n, budget - n
    if more then pending[#pending + 1] = g end
  end
end
for i = pairs_from, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
redis.call('HSET', key, 'updated_at', NOW)
dirty_user(id, 'updated', left, hash_changes(before, user_state(id)))
local out = {'OK', moved}
for _, g in ipairs(pending) do out[#out + 1] = g end
return out
