-- ARGV: P, the caller's lease `{instance}|{token}` ('' when unfenced: a
-- tool or test running alone), then commands, each as its number of
-- arguments followed by them (`3 SADD key member`). One step of a rebuild
-- (restore.rs): the commands run only while the caller holds the lease,
-- checked in the same step, so a daemon paused past its lease in the
-- middle of a rebuild never writes the rest of its (by then older) copy of
-- PostgreSQL over the keyspace the new holder rebuilt and the api has
-- written to since. Refused with LEASE_LOST otherwise.
local P, holder = ARGV[1], ARGV[2]
if holder ~= '' and redis.call('GET', P .. 'syncd:lease') ~= holder then
  return redis.error_reply('LEASE_LOST the lease is no longer this syncd\'s')
end
local i, n = 3, #ARGV
while i <= n do
  local count = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + count))
  i = i + count + 1
end
return 0
