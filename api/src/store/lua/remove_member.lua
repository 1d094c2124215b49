-- ARGV: P, now, group id, user id, caller who must administer the group ('' for the owner).
-- A group admin removes only plain users, as it adds only them: never the
-- owner or another admin (nor itself), whose tasks there would move or go.
local shut = closed() if shut then return err(shut) end
local gid, uid, caller = ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', k('group', gid)) == 0 then return err('GROUP_NOT_FOUND') end
if caller ~= '' and redis.call('SISMEMBER', k('user', caller, 'admin_of'), gid) == 0 then return err('FORBIDDEN') end
local role = redis.call('HGET', k('user', uid), 'role')
if not role then return err('USER_NOT_FOUND') end
-- Membership first: the role of a user outside the group stays unsaid.
if redis.call('SISMEMBER', k('group', gid, 'members'), uid) == 0 then return err('NOT_MEMBER') end
if caller ~= '' and role ~= 'user' then return err('ROLE_FORBIDDEN_REMOVE', role) end
local n, more = leave_group(uid, gid)
touch_user(uid, {gid})
-- More tasks to move: the api runs the leave's next steps (leave_step.lua).
if more then return {'OK', n, 'MORE'} end
return {'OK', n}
