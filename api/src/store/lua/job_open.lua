-- ARGV: P, now and context, the `Idempotency-Key` record ('' for none)
-- and the request's digest, the key the file was stored under (a plain
-- SET just before: a script that copied megabytes would hold Redis for
-- milliseconds), the creator (`owner` or a
-- user id) and how many active jobs it may have, how many report entries
-- follow, the entries (JSON), then the job's other hash fields as name,
-- value pairs.
--
-- Opens an import job, queued, with its file and the rows the api found
-- wrong already reported. A key recorded already is not opened again: the
-- same request answers the job it opened ('again'), or JOB_GONE when a
-- restore forgot that job, another one IDEM_MISMATCH; a creator with as many jobs active as it may have is
-- refused TOO_MANY. Answers {'OK', id, 'new' | 'again'}.
local shut = closed()
if shut then
  redis.call('DEL', ARGV[5])
  return err(shut)
end
local ikey, digest = ARGV[3], ARGV[4]
if ikey ~= '' then
  local held = redis.call('HMGET', ikey, 'digest', 'job')
  if held[1] then
    redis.call('DEL', ARGV[5])
    if held[1] ~= digest or not held[2] then return err('IDEM_MISMATCH') end
    -- A restore forgets jobs but keeps the keys' records: the job's answer
    -- is lost, and opening it again could write its rows twice.
    if redis.call('EXISTS', job_key(held[2])) == 0 then return err('JOB_GONE') end
    return {'OK', held[2], 'again'}
  end
end
local creator = ARGV[6]
if redis.call('SCARD', P .. 'jobs:by:' .. creator) >= tonumber(ARGV[7]) then
  redis.call('DEL', ARGV[5])
  return err('TOO_MANY')
end
local id = string.format('%d', redis.call('INCR', P .. 'seq:jobs'))
local key = job_key(id)
local entries = tonumber(ARGV[8])
local fields = {}
for i = 9 + entries, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, 'id', id, 'kind', 'import', 'status', 'queued', 'phase', 'queued',
  'created_at', NOW, 'creator', creator, 'done', 0, 'created', 0, 'beat', now_ms(), unpack(fields))
redis.call('RENAME', ARGV[5], job_key(id, 'file'))
redis.call('PERSIST', job_key(id, 'file'))
if entries > 0 then redis.call('RPUSH', job_key(id, 'errors'), unpack(ARGV, 9, 8 + entries)) end
redis.call('SADD', P .. 'jobs:active', id)
redis.call('SADD', P .. 'jobs:by:' .. creator, id)
if ikey ~= '' then
  redis.call('HSET', ikey, 'digest', digest, 'job', id)
  redis.call('EXPIRE', ikey, 86400)
end
return {'OK', id, 'new'}
