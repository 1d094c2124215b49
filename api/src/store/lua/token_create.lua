-- ARGV: P, now, user id, token id, record, most tokens per user.
-- Makes a personal API token (POST /auth/tokens), unless the user is gone
-- or deactivated, or its role is no longer the one the record carries, or
-- it holds the most tokens already.
local shut = closed() if shut then return err(shut) end
local uid, tid, record = ARGV[3], ARGV[4], ARGV[5]
local key = k('user', uid)
local role = redis.call('HGET', key, 'role')
-- A deactivated user's credential version is 0, a deleted one's is gone.
local cv = tonumber(redis.call('GET', k('user', uid, 'cv')) or '0')
if not role or cv == 0 then return err('NOT_FOUND') end
if string.match(record, '^%d+ (%S+) ') ~= role then return err('CONFLICT') end
local set = k('user', uid, 'tokens')
if redis.call('SCARD', set) >= tonumber(ARGV[6]) then return err('TOO_MANY') end
if not redis.call('SET', k('token', tid), record, 'NX') then return err('CONFLICT') end
redis.call('SADD', set, tid)
mark('user', uid)
log('token', tid, 'created', {'user', uid})
return {'OK'}
