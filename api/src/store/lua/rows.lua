-- ARGV: P, type (user|group|task), source (ids|set|visible_users), args...
--   ids: the ids; set: the key of a set whose members are the ids;
--   visible_users: a caller id -> the caller and every member of a group
--   the caller administers.
-- Returns one entry per id: the row's fields (empty if missing); for users
-- {fields, {group ids}}; for tasks the row's JSON text (nil if missing).
local t, source = ARGV[2], ARGV[3]
local ids
if source == 'set' then
  ids = redis.call('SMEMBERS', ARGV[4])
elseif source == 'visible_users' then
  local keys = {}
  for _, g in ipairs(redis.call('SMEMBERS', k('user', ARGV[4], 'admin_of'))) do
    keys[#keys + 1] = k('group', g, 'members')
  end
  ids = {ARGV[4]}
  if #keys > 0 then
    for _, u in ipairs(redis.call('SUNION', unpack(keys))) do
      if u ~= ARGV[4] then ids[#ids + 1] = u end
    end
  end
else
  ids = {}
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
for _, id in ipairs(ids) do
  if t == 'task' then
    out[#out + 1] = redis.call('GET', k('task', id))
  elseif t == 'user' then
    out[#out + 1] = {redis.call('HGETALL', k(t, id)), redis.call('SMEMBERS', k('user', id, 'groups'))}
  else
    out[#out + 1] = redis.call('HGETALL', k(t, id))
  end
end
return out
