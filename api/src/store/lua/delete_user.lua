-- ARGV: P, now, id (`{id} {updated_at}` for a conditional write, see
-- id_and_guard), the most tasks one step deletes ('0': all). Deletes the
-- user, their tasks, memberships, personal
-- tokens and sessions. The
-- groups the user administers go to the owner account (see
-- groups_taker); refused when there is none to take them.
local shut = closed() if shut then return err(shut) end
local id, guard = id_and_guard(ARGV[3])
local key = k('user', id)
if redis.call('EXISTS', key) == 0 then return err('NOT_FOUND') end
if not unchanged(key, guard) then return err('PRECONDITION') end
local admin_of = redis.call('SMEMBERS', k('user', id, 'admin_of'))
local taker = nil
if #admin_of > 0 then
  taker = groups_taker(id)
  if not taker then return administers(admin_of) end
end
if taker then hand_groups(id, taker, admin_of) end
-- A user with many tasks goes in steps, so that no step holds Redis for
-- long: each deletes `ARGV[4]` of the tasks (as single deletes do) and
-- answers {'OK', 'MORE'}; the api calls again (without the guard: the
-- delete was allowed at its first step) until one deletes the rest and
-- the user.
local step = tonumber(ARGV[4]) or 0
if step > 0 and redis.call('SCARD', k('user', id, 'tasks')) > step then
  for _, tid in ipairs(redis.call('SRANDMEMBER', k('user', id, 'tasks'), step)) do delete_task(tid) end
  return {'OK', 'MORE'}
end
local row = redis.call('HGETALL', key)
local logged_row = user_row(id)
local groups = redis.call('SMEMBERS', k('user', id, 'groups'))
local tasks = redis.call('SMEMBERS', k('user', id, 'tasks'))
for _, tid in ipairs(tasks) do delete_task(tid) end
for _, g in ipairs(groups) do redis.call('SREM', k('group', g, 'members'), id) end
local ek = redis.call('HGET', key, 'email_key')
if ek and redis.call('HGET', P .. 'idx:email', ek) == id then redis.call('HDEL', P .. 'idx:email', ek) end
drop_tokens(id)
end_sessions(id)
redis.call('DEL', key, k('user', id, 'cv'), k('user', id, 'groups'), k('user', id, 'tasks'), k('user', id, 'admin_of'))
redis.call('UNLINK', sort_keys(key))
redis.call('SREM', P .. 'users', id)
dirty_user(id, 'deleted', groups, logged_row)
return {'OK', row, groups, #tasks}
