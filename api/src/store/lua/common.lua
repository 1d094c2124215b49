-- Prepended to every script (see api/src/store/mod.rs). ARGV[1] is the key
-- prefix; for writes ARGV[2] is the current time (RFC 3339), then the
-- request's context the change log records, separated by spaces: the actor
-- ('owner', a user id or 'system'), how it authenticated, the session or
-- token id ('-' for none) and the request id ('-' for none). The key
-- layout and the change log's entries are documented in
-- shared/src/keys/mod.rs.
--
-- Scripts build key names from the prefix instead of declaring KEYS: the
-- api targets a single Redis server (not Cluster), and a script's keys
-- depend on what it reads (a user's groups, a group's tasks).
local P = ARGV[1]
local NOW, CONTEXT_TEXT = string.match(ARGV[2] or '', '^(%S*) ?(.*)$')

-- A context text ("actor auth token request") as the four values an entry
-- records.
local function context(text)
  local actor, auth, token, request = string.match(text, '^(%S*) ?(%S*) ?(%S*) ?(%S*)')
  return {actor, auth ~= '' and auth or 'system', token ~= '' and token or '-', request ~= '' and request or '-'}
end
local CONTEXT = context(CONTEXT_TEXT)

local function k(...)
  return P .. table.concat({...}, ':')
end

local PLURAL = {user = 'users', group = 'groups', task = 'tasks', webhook = 'webhooks'}

-- The change log (`P changes`, a stream): one entry per changed row, in
-- the step that changes it, so that the log holds a write exactly when it
-- happened, in commit order. `fields` are the entry's own after the common
-- ones: type, op (created|updated|deleted), id, actor, auth, token,
-- request, at. The context is the script's (ARGV[2]) unless given (a
-- create batch names one per create, see `context`).
local function log(t, id, op, fields, ctx)
  ctx = ctx or CONTEXT
  redis.call('XADD', P .. 'changes', '*', 'type', t, 'op', op, 'id', id, 'actor', ctx[1],
    'auth', ctx[2], 'token', ctx[3], 'request', ctx[4], 'at', NOW, unpack(fields))
end

-- Marks a row dirty for syncd, without an entry in the change log (a
-- token's last use, which changes nothing a client reads).
local function mark(t, id)
  redis.call('SADD', P .. 'dirty:' .. PLURAL[t], id)
  redis.call('SET', P .. 'dirty:since', NOW, 'NX')
end

-- A hash row as the change log carries it: its fields as a JSON object of
-- strings, without the ones that are nobody's to read (password hash,
-- normalised keys, versions).
local HIDDEN = {pw = true, email_key = true, name_key = true, tv = true, secret = true}
local function hash_row(key)
  local h = redis.call('HGETALL', key)
  local parts = {}
  for i = 1, #h, 2 do
    if not HIDDEN[h[i]] then parts[#parts + 1] = cjson.encode(h[i]) .. ':' .. cjson.encode(h[i + 1]) end
  end
  return parts
end

local function ids_text(list)
  return table.concat(list, ',')
end

local function json_or_null(v, number)
  if v == nil or v == cjson.null then return 'null' end
  if number then return string.format('%d', v) end
  return cjson.encode(v)
end

-- Ids sorted as numbers, joined: one text per set, whatever order Redis
-- gave.
local function sorted_ids(list)
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  table.sort(copy, function(a, b) return tonumber(a) < tonumber(b) end)
  return ids_text(copy)
end

-- An update's `changes` (the audit log's): `{"field":[old,new],...}` of
-- the fields that differ, in a fixed order. A hash row's are compared as
-- stored (strings; the readers type them, see shared/src/audit.rs), but
-- for the password hash and a webhook's secret, recorded only as
-- `"password":"changed"` and `"secret":"changed"`, and the bookkeeping
-- fields, left out.
local UNDIFFED = {id = true, email_key = true, name_key = true, tv = true, created_at = true, updated_at = true}
local function hash_state(key)
  local h = redis.call('HGETALL', key)
  local s = {}
  for i = 1, #h, 2 do s[h[i]] = h[i + 1] end
  return s
end
local function hash_changes(before, after)
  local parts, seen = {}, {}
  local function field(f)
    if seen[f] or UNDIFFED[f] then return end
    seen[f] = true
    if before[f] == after[f] then return end
    if f == 'pw' then
      parts[#parts + 1] = '"password":"changed"'
    elseif f == 'secret' then
      parts[#parts + 1] = '"secret":"changed"'
    else
      parts[#parts + 1] = cjson.encode(f) .. ':[' .. json_or_null(before[f]) .. ',' .. json_or_null(after[f]) .. ']'
    end
  end
  for f in pairs(before) do field(f) end
  for f in pairs(after) do field(f) end
  table.sort(parts)
  return '{' .. table.concat(parts, ',') .. '}'
end

-- A user as `hash_changes` compares it: its hash and its groups.
local function user_state(uid)
  local s = hash_state(k('user', uid))
  s.groups = sorted_ids(redis.call('SMEMBERS', k('user', uid, 'groups')))
  return s
end

-- A user row as the change log carries it (see hash_row), groups included.
local function user_row(uid)
  local groups = redis.call('SMEMBERS', k('user', uid, 'groups'))
  local parts = hash_row(k('user', uid))
  parts[#parts + 1] = '"groups":' .. cjson.encode(sorted_ids(groups))
  return '{' .. table.concat(parts, ',') .. '}', groups
end

-- Marks user uid dirty and logs it with its row (its groups included).
-- `former` lists groups it was in before this step and is no longer: the
-- entry's `groups` names them too, so that their admins see it leave.
-- `detail` is an update's `changes`, or a delete's row (read before it
-- went).
local function dirty_user(uid, op, former, detail)
  mark('user', uid)
  if op == 'deleted' then
    log('user', uid, op, {'groups', ids_text(former or {}), 'row', detail})
    return
  end
  local row, groups = user_row(uid)
  local route = {}
  for _, g in ipairs(groups) do route[#route + 1] = g end
  for _, g in ipairs(former or {}) do route[#route + 1] = g end
  local fields = {'groups', ids_text(route), 'row', row}
  if op == 'updated' then
    fields[#fields + 1] = 'changes'
    fields[#fields + 1] = detail or '{}'
  end
  log('user', uid, op, fields)
end

-- Marks group gid dirty and logs it with its row; `detail` as for
-- dirty_user.
local function dirty_group(gid, op, detail)
  mark('group', gid)
  if op == 'deleted' then
    log('group', gid, op, {'row', detail})
  elseif op == 'updated' then
    log('group', gid, op, {'row', '{' .. table.concat(hash_row(k('group', gid)), ',') .. '}',
      'changes', detail or '{}'})
  else
    log('group', gid, op, {'row', '{' .. table.concat(hash_row(k('group', gid)), ',') .. '}'})
  end
end

-- Marks task tid dirty and logs it: its user and group, the group it left
-- when it moved, and its row's JSON (after the write; before a delete);
-- an update's `changes` (see task_changes).
local function dirty_task(tid, op, user, group, row, old_group, changes)
  mark('task', tid)
  local fields = {'user', user, 'group', group}
  if old_group and old_group ~= group then
    fields[#fields + 1] = 'old_group'
    fields[#fields + 1] = old_group
  end
  if row then
    fields[#fields + 1] = 'row'
    fields[#fields + 1] = row
  end
  if changes then
    fields[#fields + 1] = 'changes'
    fields[#fields + 1] = changes
  end
  log('task', tid, op, fields)
end

local function err(code, detail)
  return {'ERR', code, tostring(detail or '')}
end

-- An idempotent create (`Idempotency-Key`, see api/src/idempotency.rs):
-- its record and the request's digest follow the context in ARGV[2].
local IDEM_KEY, IDEM_DIGEST = string.match(CONTEXT_TEXT or '', '^%S* %S* %S* %S* (%S+) (%S+)$')

-- The answer to a retry, before anything is checked: the first create's
-- row ('IDEM' with its id) or another request under the key
-- ('IDEM_MISMATCH'); nil for a create that is new.
local function idem_replay()
  if not IDEM_KEY then return nil end
  local held = redis.call('HMGET', IDEM_KEY, 'digest', 'id')
  if not held[1] then return nil end
  if held[1] ~= IDEM_DIGEST then return err('IDEM_MISMATCH') end
  return err('IDEM', held[2])
end

-- Records a new create's row under its key, in the create's own step.
local function idem_record(id)
  if not IDEM_KEY then return end
  redis.call('HSET', IDEM_KEY, 'digest', IDEM_DIGEST, 'id', id)
  redis.call('EXPIRE', IDEM_KEY, 86400)
end

-- A row's id as a script's argument, with its guard: `{id}` or
-- `{id} {updated_at}`, the `updated_at` a conditional write (`If-Match`)
-- saw ('' for none).
local function id_and_guard(arg)
  local id, guard = string.match(arg, '^(%S+) ?(%S*)$')
  return id or arg, guard or ''
end

-- Whether the row at `key` is still the one a conditional write saw.
local function unchanged(key, guard)
  return guard == '' or redis.call('HGET', key, 'updated_at') == guard
end

-- While syncd restores (P maintenance is set), nothing else may change
-- the keyspace, whatever an api instance believes: see closed() below.
local function maintenance()
  return redis.call('EXISTS', P .. 'maintenance') == 1
end

-- Whether this Redis server is one syncd has not checked yet (used by
-- closed() below). `P meta:ids_run` holds the run id of the Redis server
-- on which syncd last checked Redis against PostgreSQL. A different run
-- id means Redis restarted since, and may have lost its last second (ids
-- PostgreSQL already holds could be handed out again, a flushed state may
-- be missing): writes wait until syncd has checked. Without the key (no
-- syncd has run on this data yet) nothing waits.
local function ids_unchecked()
  local checked = redis.call('GET', P .. 'meta:ids_run')
  if not checked then return false end
  local info = redis.call('INFO', 'server')
  return string.match(info, 'run_id:(%x+)') ~= checked
end

-- Every write script that changes durable rows starts with `local shut =
-- closed() if shut then return err(shut) end`: refused during a restore
-- (MAINTENANCE), and on a restarted Redis server syncd has not checked
-- yet (IDS_UNCHECKED), not only for creates: syncd's check may rebuild
-- Redis from PostgreSQL, and decides which pending rows are newer than
-- PostgreSQL's from the hand-off numbers, which holds only if every
-- pending row was written before the crash (the fault run: writes
-- answered in the second before the check were lost by the rebuild).
-- Each script calls it once: `INFO server` costs about 3 µs of Redis.
local function closed()
  if maintenance() then return 'MAINTENANCE' end
  if ids_unchecked() then return 'IDS_UNCHECKED' end
  return nil
end

-- Every change to a user's tasks (a row written, added or deleted) bumps
-- `tv`, the version of the user's task list, in the user's hash: the api
-- keeps its answers to GET /users/{id}/tasks under that version.
local function tasks_changed(uid)
  redis.call('HINCRBY', k('user', uid), 'tv', 1)
end

-- A task row is its JSON text, exactly as answered on the wire, so that
-- reads need no parsing in Redis or in the api. Field order is fixed here
-- and pinned by shared/src/model.rs's Task (tests/it/answers.rs holds the
-- two together): the reference's ten fields, then state, created_by,
-- labels and completed_at, which must stay last (the api tells a row of
-- the current shape by it).
--
-- A row written before states existed has none of the last four: it is
-- read as its status says (done or todo), with no creator, no labels and
-- no completion time, and written in the current shape when it changes.
-- A stored time in the order index: the date and time, then exactly six
-- fraction digits, so that byte order is time order (shared/src/order.rs,
-- time_text; a text of another shape is kept as it is).
local function order_time(s)
  if type(s) ~= 'string' then return '' end
  if string.sub(s, -1) ~= 'Z' then return s end
  local base, frac = string.sub(s, 1, -2), ''
  local dot = string.find(base, '.', 1, true)
  if dot then
    frac = string.sub(base, dot + 1)
    base = string.sub(base, 1, dot - 1)
  end
  if #base ~= 19 or #frac > 6 or string.find(frac, '%D') then return s end
  return base .. frac .. string.rep('0', 6 - #frac)
end

-- The heads of a task's members in the order index but the first (which
-- is the id's alone): priority, deadline (`~` for none), update time.
-- The id (16 digits) follows each (see shared/src/order.rs).
local function order_heads(priority, deadline, updated_at)
  if type(deadline) ~= 'string' or deadline == '' then deadline = '~' end
  return {'p' .. string.format('%d', priority), 'd' .. deadline, 'u' .. order_time(updated_at)}
end

-- Task t's four members in the order indexes (see shared/src/order.rs):
-- the id's (in `P user:{id}:order` and `P group:{id}:order`), then the
-- priority's, the deadline's and the update time's (`…:order:{kind}`).
local function order_members(t)
  local id = string.format('%016d', t.id)
  local h = order_heads(t.priority, t.deadline, t.updated_at)
  return {'i' .. id, h[1] .. id, h[2] .. id, h[3] .. id}
end

-- The sort orders, by their member's place in order_members. A user or
-- a group keeps the index of one only from the first read of its list
-- in that order on (sort_build.lua): the kinds it keeps are the fields of
-- its `…:sorts` hash, so that a write pays for the orders somebody reads
-- and for no other.
local SORT_KINDS = {i = 1, p = 2, d = 3, u = 4}

-- The index of order `kind` of a user or a group (scope: its row key).
local function sort_key(scope, kind)
  if kind == 'i' then return scope .. ':order' end
  return scope .. ':order:' .. kind
end

-- Adds (or, add false, removes) a task's members in the indexes one user
-- or group (`scope`: its row key, `P user:{id}` or `P group:{id}`) keeps.
local function order_put(scope, members, add)
  for _, kind in ipairs(redis.call('HKEYS', scope .. ':sorts')) do
    local i = SORT_KINDS[kind]
    if i then
      if add then
        redis.call('ZADD', sort_key(scope, kind), 0, members[i])
      else
        redis.call('ZREM', sort_key(scope, kind), members[i])
      end
    end
  end
end

-- The keys of a user's or a group's order indexes, to go with it.
local function sort_keys(scope)
  return scope .. ':sorts', scope .. ':order', scope .. ':order:p', scope .. ':order:d', scope .. ':order:u'
end

-- Moves a task's entries in the order indexes from `old` (its members
-- before the write, in group `old_gid`) to `new` (in group `gid`), of
-- user uid: only the members that changed move.
local function order_move(uid, old_gid, gid, old, new)
  local scopes = {k('user', uid)}
  if old_gid == gid then
    scopes[2] = k('group', gid)
  else
    order_put(k('group', old_gid), old, false)
    order_put(k('group', gid), new, true)
  end
  for _, scope in ipairs(scopes) do
    for _, kind in ipairs(redis.call('HKEYS', scope .. ':sorts')) do
      local i = SORT_KINDS[kind]
      if i and old[i] ~= new[i] then
        local key = sort_key(scope, kind)
        redis.call('ZREM', key, old[i])
        redis.call('ZADD', key, 0, new[i])
      end
    end
  end
end

-- A task as stored, decoded, or nil; with `_order`, its members in the
-- order indexes as it is (task_put moves them when the row changes).
local function task_get(tid)
  local raw = redis.call('GET', k('task', tid))
  if not raw then return nil end
  local t = cjson.decode(raw)
  if t.state == nil then t.state = t.status and 'done' or 'todo' end
  if type(t.labels) ~= 'table' then t.labels = {} end
  t._order = order_members(t)
  t._group = string.format('%d', t.group_id)
  return t, raw
end

-- Byte order, as Rust sorts strings (Lua's `<` follows the server's
-- locale).
local function bytes_less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Labels travel in the scripts' arguments joined by newlines (no label
-- holds a control character).
local function split_labels(s)
  local out = {}
  for l in string.gmatch(s, '[^\n]+') do out[#out + 1] = l end
  return out
end

local function same_labels(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

-- A task update's `changes` (see hash_changes): the fields compared, in
-- the row's order (`updated_at` left out), typed as in the row. Take a
-- snapshot before changing a task, and compare it with the task after.
local TASK_DIFFED = {'title', 'status', 'priority', 'deadline', 'information', 'user_id', 'group_id', 'state',
  'labels', 'completed_at'}
local TASK_NUMBERS = {priority = true, user_id = true, group_id = true}
local function task_snapshot(t)
  local s = {}
  for _, f in ipairs(TASK_DIFFED) do s[f] = t[f] end
  s.status = t.state == 'done'
  return s
end
local function task_value(f, v)
  if f == 'labels' then
    local out = {}
    for i, l in ipairs(v) do out[i] = cjson.encode(l) end
    return '[' .. table.concat(out, ',') .. ']'
  end
  if f == 'status' then return v and 'true' or 'false' end
  return json_or_null(v, TASK_NUMBERS[f])
end
local function absent(v)
  return v == nil or v == cjson.null
end
local function task_changes(before, t)
  local after = task_snapshot(t)
  local parts = {}
  for _, f in ipairs(TASK_DIFFED) do
    local a, b = before[f], after[f]
    local same
    if f == 'labels' then
      same = same_labels(a, b)
    else
      same = a == b or (absent(a) and absent(b))
    end
    if not same then
      parts[#parts + 1] = '"' .. f .. '":[' .. task_value(f, a) .. ',' .. task_value(f, b) .. ']'
    end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Adds task tid to (or removes it from) the label index of group gid:
-- `P group:{gid}:label:{label}` holds the ids of the group's tasks that
-- carry the label, and `P group:{gid}:labels` counts them per label (a
-- label leaves it with its last task).
local function index_labels(tid, gid, labels, add)
  local counts = k('group', gid, 'labels')
  for _, l in ipairs(labels) do
    local set = k('group', gid, 'label', l)
    if add then
      if redis.call('SADD', set, tid) == 1 then redis.call('HINCRBY', counts, l, 1) end
    elseif redis.call('SREM', set, tid) == 1 then
      if redis.call('HINCRBY', counts, l, -1) <= 0 then redis.call('HDEL', counts, l) end
    end
  end
end

-- Writes task t. `old_group` and `old_labels` are what its row held
-- before, so that the label index follows a change of either.
local function task_put(t, old_group, old_labels)
  local tid = string.format('%d', t.id)
  local gid = string.format('%d', t.group_id)
  local labels = {}
  for i, l in ipairs(t.labels) do labels[i] = cjson.encode(l) end
  local raw = '{"id":' .. tid
    .. ',"title":' .. cjson.encode(t.title)
    .. ',"status":' .. (t.state == 'done' and 'true' or 'false')
    .. ',"priority":' .. string.format('%d', t.priority)
    .. ',"deadline":' .. cjson.encode(t.deadline)
    .. ',"information":' .. cjson.encode(t.information)
    .. ',"user_id":' .. string.format('%d', t.user_id)
    .. ',"group_id":' .. gid
    .. ',"created_at":' .. cjson.encode(t.created_at)
    .. ',"updated_at":' .. cjson.encode(t.updated_at)
    .. ',"state":"' .. t.state .. '"'
    .. ',"created_by":' .. json_or_null(t.created_by, true)
    .. ',"labels":[' .. table.concat(labels, ',') .. ']'
    .. ',"completed_at":' .. json_or_null(t.completed_at) .. '}'
  redis.call('SET', k('task', tid), raw)
  if old_group ~= gid or not same_labels(old_labels, t.labels) then
    index_labels(tid, old_group, old_labels, false)
    index_labels(tid, gid, t.labels, true)
  end
  local uid = string.format('%d', t.user_id)
  order_move(uid, t._group, gid, t._order, order_members(t))
  tasks_changed(uid)
  return raw
end

-- Deletes a task row and its index entries.
local function delete_task(tid)
  local t, raw = task_get(tid)
  if t then
    local gid = string.format('%d', t.group_id)
    redis.call('SREM', k('user', string.format('%d', t.user_id), 'tasks'), tid)
    redis.call('SREM', k('group', gid, 'tasks'), tid)
    index_labels(tid, gid, t.labels, false)
    order_put(k('user', string.format('%d', t.user_id)), t._order, false)
    order_put(k('group', gid), t._order, false)
    tasks_changed(string.format('%d', t.user_id))
    redis.call('DEL', k('task', tid))
    dirty_task(tid, 'deleted', string.format('%d', t.user_id), gid, raw)
  else
    -- Not in Redis: PostgreSQL may still hold it.
    mark('task', tid)
  end
end

-- caller is 'owner' or a user id. A task may be changed by the owner, by
-- its own user, and by an admin of the task's group.
local function can_modify(caller, task_user, task_group)
  if caller == 'owner' or caller == task_user then return true end
  return redis.call('SISMEMBER', k('user', caller, 'admin_of'), task_group) == 1
end

-- A change to user uid's memberships, made just before: a new
-- `updated_at`, marked dirty and logged. `former` lists the groups it
-- left (see dirty_user), `joined` those it joined.
local function touch_user(uid, former, joined)
  local now_in = redis.call('SMEMBERS', k('user', uid, 'groups'))
  local new = {}
  for _, g in ipairs(joined or {}) do new[g] = true end
  local was = {}
  for _, g in ipairs(now_in) do
    if not new[g] then was[#was + 1] = g end
  end
  for _, g in ipairs(former or {}) do was[#was + 1] = g end
  local before, after = sorted_ids(was), sorted_ids(now_in)
  local changes = '{}'
  if before ~= after then
    changes = '{"groups":[' .. cjson.encode(before) .. ',' .. cjson.encode(after) .. ']}'
  end
  redis.call('HSET', k('user', uid), 'updated_at', NOW)
  dirty_user(uid, 'updated', former, changes)
end

-- Who takes over the groups user `uid` administers when it is deleted or
-- demoted: the owner account (`P meta:owner`), while it exists with the
-- role `owner` and is not `uid` itself. nil when there is none: the write
-- is then refused, so that no group is ever left with a dangling admin.
local function groups_taker(uid)
  local owner = redis.call('HGET', P .. 'meta:owner', 'id')
  if not owner or owner == uid then return nil end
  if redis.call('HGET', k('user', owner), 'role') ~= 'owner' then return nil end
  return owner
end

-- Makes `owner` the admin (and a member) of `groups`, which `uid`
-- administered; every group changed is marked dirty and logged, and
-- so is the owner's row when it joined a group.
local function hand_groups(uid, owner, groups)
  local joined = {}
  for _, g in ipairs(groups) do
    local before = hash_state(k('group', g))
    redis.call('HSET', k('group', g), 'admin_id', owner, 'updated_at', NOW)
    redis.call('SREM', k('user', uid, 'admin_of'), g)
    redis.call('SADD', k('user', owner, 'admin_of'), g)
    if redis.call('SADD', k('group', g, 'members'), owner) == 1 then
      redis.call('SADD', k('user', owner, 'groups'), g)
      joined[#joined + 1] = g
    end
    dirty_group(g, 'updated', hash_changes(before, hash_state(k('group', g))))
  end
  if #joined > 0 then touch_user(owner, nil, joined) end
end

-- The refusal when a user's groups have nobody to go to.
local function administers(groups)
  table.sort(groups, function(a, b) return tonumber(a) < tonumber(b) end)
  return err('ADMINISTERS', table.concat(groups, ', '))
end

-- Deletes every personal API token of user `id` (a password or role
-- change, a deletion). The caller marks the user dirty, so the next flush
-- removes them from PostgreSQL too.
local function drop_tokens(id)
  local set = k('user', id, 'tokens')
  for _, tid in ipairs(redis.call('SMEMBERS', set)) do
    redis.call('DEL', k('token', tid))
  end
  redis.call('DEL', set)
end

-- Ends every login session of user `id`, but `keep` (a session id, or
-- nil). Every live session is in the user's set (session_open.lua).
local function end_sessions(id, keep)
  local set = k('user', id, 'sessions')
  for _, sid in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    if sid ~= keep then
      redis.call('DEL', k('session', sid))
      redis.call('ZREM', set, sid)
    end
  end
end

-- Gives user `id` a new credential version (a password or role change);
-- answers the version it had and the new one. The new one is Redis's
-- clock in µs (one more than the old when the clock has not passed it),
-- never the old one plus one: a crash of Redis's host can take back a
-- change with its last second (`everysec`), and counting up again would
-- reach the lost change's number, under which an api may remember the
-- lost password as verified (api/src/auth/cache.rs). A reactivation and
-- a restore take the clock too.
local function bump_cv(id)
  local key = k('user', id, 'cv')
  local was = tonumber(redis.call('GET', key) or '0')
  local t = redis.call('TIME')
  local cv = math.max(was + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
  redis.call('SET', key, string.format('%d', cv))
  return was, cv
end

-- Deletes webhook `id` (its row and indexes), marked dirty and logged with
-- the row as it was (never its secret).
local function delete_webhook(id)
  local key = k('webhook', id)
  local group = redis.call('HGET', key, 'group')
  if not group then return false end
  local row = '{' .. table.concat(hash_row(key), ',') .. '}'
  redis.call('DEL', key)
  redis.call('SREM', P .. 'webhooks', id)
  if group ~= '' then redis.call('SREM', k('group', group, 'webhooks'), id) end
  mark('webhook', id)
  log('webhook', id, 'deleted', {'group', group, 'row', row})
  return true
end
