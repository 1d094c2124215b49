-- A background job's keys and its end, shared by the job scripts (see
-- `P job:{id}` in shared/src/keys/mod.rs and api/src/import/job.rs).
local function job_key(id, part)
  if part then return P .. 'job:' .. id .. ':' .. part end
  return P .. 'job:' .. id
end

-- Redis's clock in ms: every api compares its heartbeats with one clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- How long an ended job stays readable.
local JOB_KEEP = 7 * 86400

-- Ends job id as `status`: what only a running job needs goes (its file
-- and the ids it made), the rest expires after JOB_KEEP.
local function job_end(id, status, reason)
  local key = job_key(id)
  redis.call('HSET', key, 'status', status, 'finished_at', NOW, 'phase', '')
  if reason then redis.call('HSET', key, 'reason', reason) end
  redis.call('DEL', job_key(id, 'file'), job_key(id, 'made'))
  redis.call('SREM', P .. 'jobs:active', id)
  redis.call('SREM', P .. 'jobs:by:' .. redis.call('HGET', key, 'creator'), id)
  redis.call('EXPIRE', key, JOB_KEEP)
  redis.call('EXPIRE', job_key(id, 'errors'), JOB_KEEP)
end

-- Stops a job that made rows it must not keep (all-or-nothing mode): its
-- steps of undoing delete them (job_undo.lua) and end it as `status`.
-- Ends it at once when there is nothing to undo.
local function job_stop(id, status, reason)
  local key = job_key(id)
  if redis.call('HGET', key, 'mode') == 'all' and redis.call('LLEN', job_key(id, 'made')) > 0 then
    redis.call('HSET', key, 'status', 'undoing', 'undo_to', status, 'phase', 'undoing')
    if reason then redis.call('HSET', key, 'reason', reason) end
    return 'undoing'
  end
  job_end(id, status, reason)
  return status
end
