-- ARGV: P, the caller's lease `{instance}|{token}` ('' when unfenced: a
-- tool or test running alone). The atomic hand-off of a flush: each dirty
-- set becomes (or is merged into, after a crash) the in-flight set of its
-- type; writes that land from now on start a fresh dirty set. Refused
-- (LEASE_LOST) unless the caller holds the lease, so a daemon that was
-- paused past its lease never takes ids. Returns how many ids each type
-- has in flight, then the id counters, then the hand-off's number (0 when
-- nothing is in flight): {users, groups, tasks, webhooks, seq:users,
-- seq:groups, seq:tasks, seq:webhooks, handoff} (syncd scans the ids in
-- chunks, and records the counters and the number in PostgreSQL with the
-- flush).
local P, holder = ARGV[1], ARGV[2]
if holder ~= '' and redis.call('GET', P .. 'syncd:lease') ~= holder then
  return redis.error_reply('LEASE_LOST the lease is no longer this syncd\'s')
end
local out = {}
local TYPES = {'users', 'groups', 'tasks', 'webhooks'}
for _, t in ipairs(TYPES) do
  local dirty, inflight = P .. 'dirty:' .. t, P .. 'inflight:' .. t
  if redis.call('EXISTS', dirty) == 1 then
    if redis.call('EXISTS', inflight) == 1 then
      redis.call('SUNIONSTORE', inflight, inflight, dirty)
      redis.call('DEL', dirty)
    else
      redis.call('RENAME', dirty, inflight)
    end
  end
  out[#out + 1] = redis.call('SCARD', inflight)
end
-- The time of the oldest change taken goes with the ids (the older one
-- stays when a crashed flush's ids are still in flight).
if redis.call('EXISTS', P .. 'dirty:since') == 1 then
  if redis.call('EXISTS', P .. 'inflight:since') == 1 then
    redis.call('DEL', P .. 'dirty:since')
  else
    redis.call('RENAME', P .. 'dirty:since', P .. 'inflight:since')
  end
end
for _, t in ipairs(TYPES) do
  out[#out + 1] = tonumber(redis.call('GET', P .. 'seq:' .. t) or '0')
end
-- The hand-off's number: the flush records it in PostgreSQL, and after a
-- Redis restart that lost a flush's clear, syncd compares the two.
local handoff = 0
if out[1] + out[2] + out[3] + out[4] > 0 then
  handoff = redis.call('INCR', P .. 'meta:handoffs')
  redis.call('SET', P .. 'inflight:handoff', handoff)
end
out[#out + 1] = handoff
return out
