-- Trims the change log (`P changes`, see shared/src/keys/mod.rs).
-- ARGV: P, the oldest id kept by age (`{ms}-0`; '+' trims by age
--   everything), the most entries kept, the most entries one call may look
--   at to apply the count.
-- Removes the entries older than the age bound, and the oldest beyond the
-- count, but never one that a consumer group has not been given yet or has
-- not acknowledged (the audit log reads the stream as a group and must see
-- every entry). Returns how many entries it removed.
local stream = ARGV[1] .. 'changes'
if redis.call('EXISTS', stream) == 0 then return 0 end

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
-- The id right after `id`: MINID keeps what is not lower than it.
local function after(id)
  local ms, seq = parse(id)
  return string.format('%d-%d', ms, seq + 1)
end

local floor = ARGV[2]
if floor == '+' then
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #last == 0 then return 0 end
  floor = after(last[1][1])
end
local excess = redis.call('XLEN', stream) - tonumber(ARGV[3])
if excess > 0 then
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', math.min(excess, tonumber(ARGV[4])))
  local by_count = after(oldest[#oldest][1])
  if less(floor, by_count) then floor = by_count end
end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local keep = after(info['last-delivered-id'])
  if info['pending'] > 0 then
    local oldest_pending = redis.call('XPENDING', stream, info['name'])[2]
    if less(oldest_pending, keep) then keep = oldest_pending end
  end
  if less(keep, floor) then floor = keep end
end
-- XTRIM does not move the stream's max-deleted-entry-id (only XDEL does):
-- `P changes:trimmed` remembers the newest entry trimmed, so that a reader
-- knows whether a position is still followed by every entry.
local newest_trimmed = redis.call('XREVRANGE', stream, '(' .. floor, '-', 'COUNT', 1)
if #newest_trimmed > 0 then
  local id = newest_trimmed[1][1]
  local mark = ARGV[1] .. 'changes:trimmed'
  local before = redis.call('GET', mark)
  if not before or less(before, id) then redis.call('SET', mark, id) end
end
return redis.call('XTRIM', stream, 'MINID', floor)
