-- ARGV: P, now, task ids. Puts each task that exists into its user's and
-- its group's order index, and its id into the whole one (see
-- order_members in common.lua), as it is now: for data written before the indexes existed (api/src/bootstrap.rs
-- runs it in chunks at the first start on such data). Writes that land
-- between chunks move their own tasks' members, so running it while
-- serving loses nothing. Returns how many tasks it indexed.
local n = 0
for i = 3, #ARGV do
  local t = task_get(ARGV[i])
  if t then
    local m = t._order
    local uid = string.format('%d', t.user_id)
    redis.call('ZADD', k('user', uid, 'order'), 0, m[1], 0, m[2], 0, m[3], 0, m[4])
    redis.call('ZADD', k('group', t._group, 'order'), 0, m[1], 0, m[2], 0, m[3], 0, m[4])
    redis.call('ZADD', P .. 'tasks:order', 0, m[1])
    n = n + 1
  end
end
return n
