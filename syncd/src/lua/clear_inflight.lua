-- ARGV: P, the caller's lease `{instance}|{token}` ('' when unfenced), the
-- number of the flush that committed (PostgreSQL's sync_state.flushes),
-- recorded as `P meta:flushes` in the same step.
-- Drops the in-flight sets after their flush committed, only while the
-- caller still holds the lease it flushed under, in one step. While it
-- holds the lease, nobody else can have added to them (only the holder
-- takes), so they hold exactly what this flush wrote. A daemon that lost
-- the lease meanwhile (paused past it) is refused (LEASE_LOST): the sets
-- may now hold the new holder's ids, which that holder writes and clears.
local P, holder = ARGV[1], ARGV[2]
if holder ~= '' and redis.call('GET', P .. 'syncd:lease') ~= holder then
  return redis.error_reply('LEASE_LOST the lease is no longer this syncd\'s')
end
redis.call('SET', P .. 'meta:flushes', ARGV[3])
return redis.call('DEL', P .. 'inflight:users', P .. 'inflight:groups', P .. 'inflight:tasks',
  P .. 'inflight:webhooks', P .. 'inflight:since', P .. 'inflight:handoff')
