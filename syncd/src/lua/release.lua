-- KEYS[1]: a key; ARGV[1]: the value its caller set. Deletes the key only
-- while it still holds that value: the lease given up by its holder
-- (`{instance}|{token}`), a maintenance flag lifted by whoever raised it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
