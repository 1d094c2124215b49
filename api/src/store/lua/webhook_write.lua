-- One script for a webhook's changes (POST, PUT, DELETE /webhooks…), so
-- that who may touch which hook is written once.
-- ARGV: P, now, action (create|update|delete), caller (a group admin's
--   user id; '' for the owner), hook id ('' to create), group ('' for a
--   global hook; create only), most hooks per group, most hooks in all,
--   then field/value pairs to set: url, events (comma-separated, sorted),
--   secret, active ('1' or '0'), created_by ('' for the owner header).
-- The owner may touch every hook; a group admin only the hooks of the
-- groups it administers (another's is "not found", as a missing one).
-- Returns {'OK', id}.
local shut = closed() if shut then return err(shut) end
local action, caller, id, group = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local function administers(g)
  return caller == '' or (g ~= '' and redis.call('SISMEMBER', k('user', caller, 'admin_of'), g) == 1)
end
local function set_fields(key)
  for i = 9, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
end

if action == 'create' then
  if group ~= '' and redis.call('EXISTS', k('group', group)) == 0 then return err('GROUP_NOT_FOUND', group) end
  if not administers(group) then return err('FORBIDDEN') end
  if (group ~= '' and redis.call('SCARD', k('group', group, 'webhooks')) >= tonumber(ARGV[7]))
      or redis.call('SCARD', P .. 'webhooks') >= tonumber(ARGV[8]) then
    return err('TOO_MANY')
  end
  id = tostring(redis.call('INCR', P .. 'seq:webhooks'))
  local key = k('webhook', id)
  redis.call('HSET', key, 'id', id, 'group', group, 'created_at', NOW, 'updated_at', NOW)
  set_fields(key)
  redis.call('SADD', P .. 'webhooks', id)
  if group ~= '' then redis.call('SADD', k('group', group, 'webhooks'), id) end
  mark('webhook', id)
  log('webhook', id, 'created', {'group', group, 'row', '{' .. table.concat(hash_row(key), ',') .. '}'})
  return {'OK', id}
end

local key = k('webhook', id)
local current = redis.call('HGET', key, 'group')
if not current or not administers(current) then return err('NOT_FOUND') end
if action == 'delete' then
  delete_webhook(id)
  return {'OK', id}
end
local before = hash_state(key)
set_fields(key)
redis.call('HSET', key, 'updated_at', NOW)
mark('webhook', id)
log('webhook', id, 'updated', {'group', current, 'row', '{' .. table.concat(hash_row(key), ',') .. '}',
  'changes', hash_changes(before, hash_state(key))})
return {'OK', id}
