-- ARGV: P, now (ms), caller (a group admin's user id; '' for the owner),
-- hook id, delivery id.
-- Sends one of a hook's deliveries again: it is due now, pending, with a
-- new retry window (a dead letter comes back to life). Refused
-- (NOT_FOUND) when the hook is missing or not the caller's, or the
-- delivery is not the hook's (or expired).
local P, now, caller, hook, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local group = redis.call('HGET', P .. 'webhook:' .. hook, 'group')
if not group then return {'ERR', 'NOT_FOUND', ''} end
if caller ~= '' and (group == '' or redis.call('SISMEMBER', P .. 'user:' .. caller .. ':admin_of', group) == 0) then
  return {'ERR', 'NOT_FOUND', ''}
end
local key = P .. 'webhook_delivery:' .. id
if redis.call('HGET', key, 'hook') ~= hook then return {'ERR', 'NOT_FOUND', ''} end
redis.call('PERSIST', key)
redis.call('HSET', key, 'status', 'pending', 'created_ms', now, 'next_ms', now)
redis.call('ZADD', P .. 'webhooks:due:' .. hook, now, id)
redis.call('SADD', P .. 'webhooks:due_hooks', hook)
return {'OK'}
