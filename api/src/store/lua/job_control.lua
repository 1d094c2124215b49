-- ARGV: P, now and context, the operation, the job's id, then the
-- operation's own:
--   start {token}: a queued job the caller holds starts running;
--   beat {token}: the holder is alive (a queued job waiting its turn);
--   finish {token}: a running job has written its last row: done;
--   fail {token} {reason}: it cannot go on (undone first in
--     all-or-nothing mode);
--   claim {token} {idle ms}: takes over a job no heartbeat touched for
--     that long (its api stopped), under a new token;
--   cancel: stops a job (undone first in all-or-nothing mode).
-- Answers {'OK', the job's status after} or err('JOB_GONE'),
-- err('JOB_TAKEN') (another holder's token), err('JOB_ENDED').
local op, id, token = ARGV[3], ARGV[4], ARGV[5]
local key = job_key(id)
local state = redis.call('HMGET', key, 'status', 'token', 'beat')
local status = state[1]
if not status then return err('JOB_GONE') end
local active = status == 'queued' or status == 'running' or status == 'undoing'
if op == 'cancel' then
  if not active then return err('JOB_ENDED', status) end
  if status == 'undoing' then return {'OK', status} end
  return {'OK', job_stop(id, 'cancelled', 'cancelled')}
end
if op == 'claim' then
  if not active or now_ms() - tonumber(state[3] or 0) < tonumber(ARGV[6]) then
    return err('JOB_TAKEN')
  end
  redis.call('HSET', key, 'token', token, 'beat', now_ms())
  redis.call('HINCRBY', key, 'claims', 1)
  return {'OK', status}
end
if state[2] ~= token then return err('JOB_TAKEN') end
if not active then return err('JOB_ENDED', status) end
if op == 'beat' then
  redis.call('HSET', key, 'beat', now_ms())
elseif op == 'start' then
  if status == 'queued' then
    redis.call('HSET', key, 'status', 'running', 'phase', 'writing', 'started_at', NOW, 'beat', now_ms())
  end
elseif op == 'finish' then
  if status ~= 'running' then return err('JOB_ENDED', status) end
  job_end(id, 'done')
elseif op == 'fail' then
  if status == 'undoing' then return {'OK', status} end
  job_stop(id, 'failed', ARGV[6])
end
return {'OK', redis.call('HGET', key, 'status')}
