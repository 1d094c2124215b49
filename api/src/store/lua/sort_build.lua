-- ARGV: P, now, 'user' or 'group', its id, a sort kind (`i`, `p`, `d` or
-- `u`, see SORT_KINDS in common.lua). One step of building that order's
-- index for the user's or the group's tasks (`P user:{id}:order`,
-- `P user:{id}:order:{kind}`): about 50 of its tasks (about half a
-- millisecond of Redis), from where the last step stopped.
--
-- The first step adds the kind to `P user:{id}:sorts`, so every write
-- from then on keeps the index of the tasks it touches, and each step
-- records its `SSCAN` cursor there: steps may come from any api, one at a
-- time or side by side, and go on where the last one stopped. A task
-- added or changed meanwhile is put right by its write; one the scan
-- reaches is read as it is now. The last step marks the kind `ready`,
-- and pages read the index from then on.
--
-- Answers {'OK', 'ready'}, {'OK', 'gone'} (no such user or group) or
-- {'OK', cursor}.
if maintenance() then return err('MAINTENANCE') end
local scope, kind = k(ARGV[3], ARGV[4]), ARGV[5]
local slot = SORT_KINDS[kind]
if not slot then return err('BAD_KIND') end
if redis.call('EXISTS', scope) == 0 then return {'OK', 'gone'} end
local sorts, index = scope .. ':sorts', sort_key(scope, kind)
local at = redis.call('HGET', sorts, kind)
if at == 'ready' then return {'OK', 'ready'} end
if not at then
  -- Nothing of an index no longer kept may stay in a new one.
  redis.call('UNLINK', index)
  at = '0'
end
local scan = redis.call('SSCAN', scope .. ':tasks', at, 'COUNT', 50)
local members = {}
for _, tid in ipairs(scan[2]) do
  -- The id's member needs no row (the set and the rows change together).
  local member = kind == 'i' and string.format('i%016d', tonumber(tid))
  if not member then
    local t = task_get(tid)
    member = t and t._order[slot]
  end
  if member then
    members[#members + 1] = 0
    members[#members + 1] = member
  end
end
if #members > 0 then redis.call('ZADD', index, unpack(members)) end
local next = scan[1] == '0' and 'ready' or scan[1]
redis.call('HSET', sorts, kind, next)
return {'OK', next}
