-- ARGV: P. The atomic hand-off of a flush: each dirty set becomes (or is
-- merged into, after a crash) the in-flight set of its type; writes that
-- land from now on start a fresh dirty set. Returns how many ids each type
-- has in flight: {users, groups, tasks} (syncd scans them in chunks).
local P = ARGV[1]
local out = {}
for _, t in ipairs({'users', 'groups', 'tasks'}) do
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
return out
