-- KEYS[1]: P syncd:lease; ARGV[1]: `{instance}|{token}` of the caller.
-- Deletes the lease only while the caller still holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
