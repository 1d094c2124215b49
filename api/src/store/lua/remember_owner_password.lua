-- ARGV: P, now, owner id, hash.
-- After an adoption (the owner's address already had an account: restored
-- data, whose restore forgot `meta:owner`), the account still has the
-- password OWNER_PASSWORD gives (the api verified it): that password counts
-- as bootstrap's again, so a changed OWNER_PASSWORD replaces it. Nothing
-- changes if the adoption or the password changed meanwhile.
if maintenance() then return err('MAINTENANCE') end
local meta = P .. 'meta:owner'
if redis.call('HGET', meta, 'id') ~= ARGV[3] then return err('CHANGED') end
if redis.call('HGET', k('user', ARGV[3]), 'pw') ~= ARGV[4] then return err('CHANGED') end
redis.call('HSET', meta, 'pw', ARGV[4])
return {'OK'}
