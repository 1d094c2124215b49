-- ARGV: P, now (ms), the most deliveries one hook may have waiting, n,
-- the n change log entry ids, then four for each delivery: its id
-- (`{entry id}.{hook id}`), hook id, event, payload.
-- Creates the deliveries of a batch of entries and acknowledges the
-- entries (consumer group `webhooks`) in one step: a crash leaves either
-- both or neither, and a delivery read again after a crash exists already
-- and is not made twice. A hook whose queue is full (its receiver down
-- for long) gets no more: they are counted in `P webhooks:dropped:{hook}`
-- instead, so that Redis memory stays bounded. Returns how many
-- deliveries it made.
local P, now, most, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local made = 0
for i = 5 + n, #ARGV, 4 do
  local id, hook = ARGV[i], ARGV[i + 1]
  local key = P .. 'webhook_delivery:' .. id
  if redis.call('ZCARD', P .. 'webhooks:due:' .. hook) >= most then
    if redis.call('EXISTS', key) == 0 then redis.call('INCR', P .. 'webhooks:dropped:' .. hook) end
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'hook', hook, 'event', ARGV[i + 2], 'payload', ARGV[i + 3],
      'status', 'pending', 'attempts', 0, 'created_ms', now, 'next_ms', now)
    redis.call('ZADD', P .. 'webhooks:due:' .. hook, now, id)
    redis.call('SADD', P .. 'webhooks:due_hooks', hook)
    local list = P .. 'webhook:' .. hook .. ':deliveries'
    redis.call('LPUSH', list, id)
    redis.call('LTRIM', list, 0, 99)
    made = made + 1
  end
end
if n > 0 then
  redis.call('XACK', P .. 'changes', 'webhooks', unpack(ARGV, 5, 4 + n))
end
return made
