-- ARGV: P, now, owner id, hash expected now, new hash.
-- Follows a changed OWNER_PASSWORD, but only while the account still has
-- the password bootstrap gave it (a password the owner set is never touched).
if maintenance() then return err('MAINTENANCE') end
local key = k('user', ARGV[3])
if redis.call('HGET', key, 'pw') ~= ARGV[4] then return err('CHANGED') end
local before = user_state(ARGV[3])
redis.call('HSET', key, 'pw', ARGV[5], 'updated_at', NOW)
if redis.call('HGET', key, 'active') ~= '0' then bump_cv(ARGV[3]) end
drop_tokens(ARGV[3])
end_sessions(ARGV[3])
redis.call('HSET', P .. 'meta:owner', 'pw', ARGV[5])
dirty_user(ARGV[3], 'updated', nil, hash_changes(before, user_state(ARGV[3])))
return {'OK'}
