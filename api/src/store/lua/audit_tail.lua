-- ARGV: P, before ('+', or a position the entries must be below), floor
--   (a position the entries must be at or above), actor, entity, entity
--   id ('' = any), how many matches to return at most, how many entries to
--   look at at most.
-- The change log entries the audit log may not hold yet, newest first:
-- everything from the oldest entry its consumer group (`audit`) has not
-- acknowledged. Returns {boundary, matches, last looked at ('' for none),
-- reached ('1' when the scan reached the boundary or the floor)}, where
-- the boundary is the position below which PostgreSQL holds every entry
-- (see shared/src/audit.rs).
local stream = P .. 'changes'
local before, floor, actor, entity, eid = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local limit, budget = tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('EXISTS', stream) == 0 then return {'0-0', {}, '', '1'} end

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end

-- Without the group no syncd has read the log yet (or Redis lost it, and
-- syncd makes it again within a second): the stream is the whole story.
local boundary = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == 'audit' then
    if info['pending'] > 0 then
      boundary = redis.call('XPENDING', stream, 'audit')[2]
    else
      local ms, seq = parse(info['last-delivered-id'])
      boundary = string.format('%d-%d', ms, seq + 1)
    end
  end
end
local low = boundary
if less(low, floor) then low = floor end

local matches, last, reached = {}, '', '1'
local high = before == '+' and '+' or '(' .. before
local looked = 0
while true do
  local batch = redis.call('XREVRANGE', stream, high, low, 'COUNT', 256)
  for _, e in ipairs(batch) do
    local f = e[2]
    local t, id, who
    for i = 1, #f, 2 do
      local name = f[i]
      if name == 'type' then t = f[i + 1] elseif name == 'id' then id = f[i + 1] elseif name == 'actor' then who = f[i + 1] end
    end
    if (entity == '' or entity == t) and (eid == '' or eid == id) and (actor == '' or actor == who) then
      matches[#matches + 1] = e
    end
    last = e[1]
    looked = looked + 1
    if #matches >= limit or looked >= budget then
      reached = '0'
      break
    end
  end
  if reached == '0' or #batch < 256 then break end
  high = '(' .. last
end
return {boundary, matches, last, reached}
