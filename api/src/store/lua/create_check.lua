-- The rules a create is checked by before it is made, shared by
-- create_tasks.lua and an import's check (import_check.lua): `nil`/false
-- when user uid may get a task in group gid, else the refusal's code.
-- `caller` must administer the group ('' when not required); `guard` is
-- the credential version the user must still have ('' when not required).
local function create_check(uid, gid, caller, guard)
  local ukey = P .. 'user:' .. uid
  if guard ~= '' and redis.call('GET', ukey .. ':cv') ~= guard then
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
