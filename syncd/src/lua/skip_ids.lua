-- Raises the id counters past ids a lost second may have handed out
-- (syncd/src/reconcile.rs), recording the task ids skipped.
-- KEYS: the counters `P seq:{users,groups,tasks,webhooks}`, then
--   `P meta:id_gaps`. ARGV: the new value of each counter, in that order,
--   then the skip (how many ids below each new value were skipped).
-- A counter already at or past its value stays; the task counter's skip
-- is added to the gaps as `{from}-{to}` scored `from`, so the owner's
-- views step over ids no task ever had. Only the skip itself: the ids
-- below it may be rows PostgreSQL holds (a rebuild loads them) or ids of
-- the lost second. Returns 0.
local skip = tonumber(ARGV[5])
for i = 1, 4 do
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  local to = tonumber(ARGV[i])
  if to > cur then
    redis.call('SET', KEYS[i], ARGV[i])
    local from = math.max(cur + 1, to - skip + 1)
    if i == 3 and from <= to then
      redis.call('ZADD', KEYS[5], from, string.format('%d-%d', from, to))
    end
  end
end
return 0
