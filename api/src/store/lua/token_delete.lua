-- ARGV: P, now, user id, token id. Revokes one of the user's personal API
-- tokens (DELETE /auth/tokens/{id}).
local shut = closed() if shut then return err(shut) end
local uid, tid = ARGV[3], ARGV[4]
if redis.call('SREM', k('user', uid, 'tokens'), tid) == 0 then return err('NOT_FOUND') end
redis.call('DEL', k('token', tid))
mark('user', uid)
log('token', tid, 'deleted', {'user', uid})
return {'OK'}
