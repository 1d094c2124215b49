-- ARGV: P, index key, mode, a, b, rev ('1' or ''), offset, count, then
-- the bounds of the range to count ('' '' to count nothing), then the
-- index's sort kind (`i`, `p`, `d` or `u`) and the `…:sorts` hash that
-- tells whether it is built. One chunk of a task list from an order
-- index (`P user:{id}:order`, `P group:{id}:order:{kind}`, …, see
-- shared/src/order.rs):
--
-- * mode `lex`: the members between the `ZRANGE … BYLEX` bounds a and b
--   (a the start: the larger one when rev), `offset` of them skipped;
-- * mode `rank`: the members between the bounds a (low) and b (high), by
--   position: the `offset`-th of them in the order (from the high end
--   when rev) and on. O(log n + count) however deep the page, where
--   skipping members costs as many steps.
--
-- Returns {count (-1 when not asked), member, row, member, row, …}, rows
-- as stored (false for a member whose row is missing). Refused until
-- sort_build.lua has built the index and marked it ready.
--
-- A read on the hot path, so it stands alone: without common.lua, whose
-- definitions every script that includes it runs first.
local P = ARGV[1]
if redis.call('HGET', ARGV[12], ARGV[11]) ~= 'ready' then
  return {'ERR', 'SORT_BUILDING', ''}
end
local key, mode, a, b, rev = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1'
local offset, count = tonumber(ARGV[7]), tonumber(ARGV[8])
local total = -1
if ARGV[9] ~= '' then total = redis.call('ZLEXCOUNT', key, ARGV[9], ARGV[10]) end
local members
if mode == 'rank' then
  -- How many members sort before the low bound.
  local before = 0
  local first_char = string.sub(a, 1, 1)
  if first_char == '[' then
    before = redis.call('ZLEXCOUNT', key, '-', '(' .. string.sub(a, 2))
  elseif first_char == '(' then
    before = redis.call('ZLEXCOUNT', key, '-', '[' .. string.sub(a, 2))
  end
  local n = redis.call('ZLEXCOUNT', key, a, b)
  if offset >= n then
    members = {}
  elseif rev then
    local last = before + n - 1 - offset
    local first = math.max(before, last - count + 1)
    members = redis.call('ZRANGE', key, first, last)
    local reversed = {}
    for i = #members, 1, -1 do reversed[#reversed + 1] = members[i] end
    members = reversed
  else
    local first = before + offset
    members = redis.call('ZRANGE', key, first, math.min(first + count, before + n) - 1)
  end
elseif rev then
  members = redis.call('ZRANGE', key, a, b, 'BYLEX', 'REV', 'LIMIT', offset, count)
else
  members = redis.call('ZRANGE', key, a, b, 'BYLEX', 'LIMIT', offset, count)
end
local out = {total}
if #members == 0 then return out end
local keys = {}
for i, m in ipairs(members) do
  keys[i] = P .. 'task:' .. string.format('%d', tonumber(string.sub(m, -16)))
end
local rows = redis.call('MGET', unpack(keys))
for i, m in ipairs(members) do
  out[#out + 1] = m
  out[#out + 1] = rows[i]
end
return out
