-- ARGV: P, now, user id, group id, caller who must administer the group
-- ('' when not required), the credential version the user must still have
-- ('' when not required: the api checked the caller in an earlier step),
-- and the row's JSON after its id: `,"title":…,"updated_at":"…"}` (built
-- by the api, so Redis neither encodes JSON nor formats numbers here;
-- this is the busiest write).
if maintenance() then return err('MAINTENANCE') end
local uid, gid, caller = ARGV[3], ARGV[4], ARGV[5]
local ukey = P .. 'user:' .. uid
if ARGV[6] ~= '' and redis.call('HGET', ukey, 'cv') ~= ARGV[6] then
  return err('STALE_CREDENTIALS')
end
-- A member of an existing group is an existing user (memberships go with
-- the user or the group), so the existence checks only decide which
-- refusal to give.
if redis.call('SISMEMBER', ukey .. ':groups', gid) == 0 then
  if redis.call('EXISTS', ukey) == 0 then return err('USER_NOT_FOUND') end
  if redis.call('EXISTS', P .. 'group:' .. gid) == 0 then return err('GROUP_NOT_FOUND') end
  return err('NOT_MEMBER')
end
if caller ~= '' and redis.call('SISMEMBER', P .. 'user:' .. caller .. ':admin_of', gid) == 0 then
  return err('FORBIDDEN_GROUP')
end
local id = string.format('%d', redis.call('INCR', P .. 'seq:tasks'))
redis.call('SET', P .. 'task:' .. id, '{"id":' .. id .. ARGV[7])
redis.call('SADD', ukey .. ':tasks', id)
redis.call('HINCRBY', ukey, 'tv', 1)
redis.call('SADD', P .. 'group:' .. gid .. ':tasks', id)
redis.call('SADD', P .. 'tasks', id)
dirty('task', id, 'upsert')
return {'OK', id}
