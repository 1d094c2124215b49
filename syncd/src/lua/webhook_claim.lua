-- ARGV: P, hook id, delivery id, now (ms), lease (ms).
-- Claims a due delivery of a hook for one attempt: its due time becomes
-- now + lease, so that if the worker dies the delivery is due again then
-- (at least once). A delivery whose hook is gone or inactive is cancelled
-- instead. Returns nil (not due, gone or cancelled) or {url, secret,
-- event, payload, attempts, created_ms}.
local P, hook, id, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local due = P .. 'webhooks:due:' .. hook
local function leave()
  redis.call('ZREM', due, id)
  if redis.call('ZCARD', due) == 0 then redis.call('SREM', P .. 'webhooks:due_hooks', hook) end
end
local score = redis.call('ZSCORE', due, id)
if not score or tonumber(score) > now then return nil end
local key = P .. 'webhook_delivery:' .. id
local d = redis.call('HMGET', key, 'hook', 'event', 'payload', 'attempts', 'created_ms')
if d[1] ~= hook then
  leave()
  return nil
end
local h = redis.call('HMGET', P .. 'webhook:' .. hook, 'url', 'secret', 'active')
if not h[1] or h[3] == '0' then
  redis.call('HSET', key, 'status', 'cancelled', 'last_error',
    h[1] and 'the hook was deactivated' or 'the hook was deleted', 'last_at', now)
  leave()
  redis.call('EXPIRE', key, 7 * 24 * 3600)
  return nil
end
redis.call('ZADD', due, now + tonumber(ARGV[5]), id)
return {h[1], h[2], d[2], d[3], d[4], d[5]}
