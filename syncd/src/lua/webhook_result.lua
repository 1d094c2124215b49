-- ARGV: P, delivery id, outcome (delivered|retry|dead), when the next
-- attempt is due (ms; retry only), response code ('' for none), duration
-- (ms), error ('' for none), now (ms).
-- Records one attempt: a delivered or dead delivery leaves its hook's
-- queue and expires 7 days later; a retry is due again at its time.
local P, id, outcome = ARGV[1], ARGV[2], ARGV[3]
local key = P .. 'webhook_delivery:' .. id
local hook = redis.call('HGET', key, 'hook')
if not hook then return 0 end
local due = P .. 'webhooks:due:' .. hook
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'status', outcome == 'retry' and 'pending' or outcome, 'next_ms', ARGV[4],
  'last_code', ARGV[5], 'last_ms', ARGV[6], 'last_error', ARGV[7], 'last_at', ARGV[8])
if outcome == 'retry' then
  redis.call('ZADD', due, ARGV[4], id)
else
  redis.call('ZREM', due, id)
  if redis.call('ZCARD', due) == 0 then redis.call('SREM', P .. 'webhooks:due_hooks', hook) end
  redis.call('HSET', key, 'next_ms', '')
  redis.call('EXPIRE', key, 7 * 24 * 3600)
end
return 1
