-- ARGV: P, now and the job's context, the job's id, its holder's token,
-- the most rows to delete.
--
-- One step of undoing an all-or-nothing import that failed or was
-- cancelled: deletes up to that many of the rows it made, newest first,
-- each as a task delete is (indexes, dirty mark, change log), and ends
-- the job once none is left. Answers {'OK', rows left} or a job error
-- (see job_control.lua).
local shut = closed() if shut then return err(shut) end
local id, token = ARGV[3], ARGV[4]
local key = job_key(id)
local state = redis.call('HMGET', key, 'status', 'token', 'undo_to')
if not state[1] then return err('JOB_GONE') end
if state[2] ~= token then return err('JOB_TAKEN') end
if state[1] ~= 'undoing' then return err('JOB_ENDED', state[1]) end
local made = job_key(id, 'made')
local ids = redis.call('RPOP', made, tonumber(ARGV[5]))
if ids then
  for _, tid in ipairs(ids) do delete_task(tid) end
  redis.call('HINCRBY', key, 'created', -#ids)
end
redis.call('HSET', key, 'beat', now_ms())
local left = redis.call('LLEN', made)
if left == 0 then job_end(id, state[3]) end
return {'OK', left}
