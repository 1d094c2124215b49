-- ARGV: what create_tasks.lua takes (P, now, the quotas, fourteen per
-- create), then five of the import's: the job's id, its holder's token,
-- the rows done before this step and after it, and the row number of
-- each create, space-separated.
--
-- One step of an import job: its creates exactly as create_tasks.lua
-- makes them (prepended above as `create_batch`), and the job's progress
-- in the same atomic step, so that a job taken over after its api
-- stopped goes on from the first row not written, never writing one
-- twice. A refused create is reported with its row (`{"row":…,"code":…}`
-- in `P job:{id}:errors`, the first 100); in all-or-nothing mode it
-- stops the job, which then undoes what it made. Answers what
-- create_tasks answers, or a job error (see job_control.lua;
-- err('JOB_MOVED') when another step ran first).
local numbers = table.remove(ARGV)
local after = table.remove(ARGV)
local before = table.remove(ARGV)
local token = table.remove(ARGV)
local id = table.remove(ARGV)
local key = job_key(id)
local state = redis.call('HMGET', key, 'status', 'token', 'done', 'mode')
if not state[1] then return err('JOB_GONE') end
if state[2] ~= token then return err('JOB_TAKEN') end
if state[1] ~= 'running' then return err('JOB_ENDED', state[1]) end
if state[3] ~= before then return err('JOB_MOVED', state[3]) end
local out = create_batch()
if out[1] ~= 'OK' then return out end
local rows = {}
for n in string.gmatch(numbers, '%d+') do rows[#rows + 1] = n end
local made, refused, first = {}, 0, nil
local errors = job_key(id, 'errors')
for i = 2, #out do
  local v = out[i]
  if string.match(v, '^%d+$') then
    made[#made + 1] = v
  else
    refused = refused + 1
    local entry = '{"row":' .. rows[i - 1] .. ',"code":' .. cjson.encode(v) .. '}'
    first = first or entry
    if redis.call('LLEN', errors) < 100 then redis.call('RPUSH', errors, entry) end
  end
end
if state[4] == 'all' and #made > 0 then redis.call('RPUSH', job_key(id, 'made'), unpack(made)) end
redis.call('HSET', key, 'done', after, 'beat', now_ms())
redis.call('HINCRBY', key, 'created', #made)
if refused > 0 then
  redis.call('HINCRBY', key, 'failed', refused)
  if state[4] == 'all' then job_stop(id, 'failed', first) end
end
return out
