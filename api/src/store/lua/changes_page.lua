-- ARGV: P, after (a position), count.
-- Reads the change log after a position: {max deleted id, last id,
-- entries}, where the first two say whether the log still holds every
-- entry after the position (see shared/src/keys/mod.rs). One script, so that
-- no trim falls between the bounds and the entries.
local stream = P .. 'changes'
-- syncd's trims record the newest entry they removed (XTRIM does not move
-- the stream's own max-deleted-entry-id).
local max_deleted = redis.call('GET', P .. 'changes:trimmed') or '0-0'
if redis.call('EXISTS', stream) == 0 then return {max_deleted, '0-0', {}} end
local info = redis.call('XINFO', 'STREAM', stream)
local last = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
local entries = redis.pcall('XRANGE', stream, '(' .. ARGV[2], '+', 'COUNT', ARGV[3])
if type(entries) ~= 'table' or entries.err then entries = {} end
return {max_deleted, last, entries}
