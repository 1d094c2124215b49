-- ARGV: P, now, group id, user id, only role 'user' ('1' or ''), caller who
-- must administer the group ('' for the owner).
--
-- A group admin adds only users it already manages: members of another
-- group it administers (it moves people between its own teams; new people
-- it creates with POST /users). Anyone else is the owner's to add, and to
-- the admin is "not found" whether or not the account exists, so the
-- refusal tells it nothing about accounts outside its groups.
local shut = closed() if shut then return err(shut) end
local gid, uid, caller = ARGV[3], ARGV[4], ARGV[6]
if redis.call('EXISTS', k('group', gid)) == 0 then return err('GROUP_NOT_FOUND') end
if caller ~= '' and redis.call('SISMEMBER', k('user', caller, 'admin_of'), gid) == 0 then return err('FORBIDDEN') end
if caller ~= '' and #redis.call('SINTER', k('user', uid, 'groups'), k('user', caller, 'admin_of')) == 0 then
  return err('USER_NOT_FOUND')
end
local role = redis.call('HGET', k('user', uid), 'role')
if not role then return err('USER_NOT_FOUND') end
if ARGV[5] == '1' and role ~= 'user' then return err('ROLE_FORBIDDEN', role) end
if redis.call('SISMEMBER', k('group', gid, 'members'), uid) == 1 then return err('ALREADY_MEMBER') end
redis.call('SADD', k('group', gid, 'members'), uid)
redis.call('SADD', k('user', uid, 'groups'), gid)
touch_user(uid, nil, {gid})
return {'OK'}
