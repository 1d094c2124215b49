-- ARGV: P, now, the most tasks a user and a group may hold ('0': no
-- limit), then fourteen for each task to create: user id, group id, the
-- caller who must administer the group ('' when not required), the
-- credential version the user must still have ('' when not required: the
-- api checked the caller in an earlier step), the row's JSON after its
-- id: `,"title":…,"completed_at":…}` (built by the api, so Redis neither
-- encodes JSON nor formats numbers here), the rate-limit key the request
-- counts against ('' when it was counted in an earlier step), with its
-- interval (ms), burst and how many to take (see gcra.lua), and the
-- task's labels joined by newlines (the same as in the row; '' for none)
-- for the group's label index, and the context the change log records
-- ("actor auth token request", see common.lua: the creates come from
-- several requests, ARGV[2]'s context is not theirs), and the heads of
-- its members in the order indexes but the id's (`p…`, `d…`, `u…`,
-- joined by newlines: see order_heads in common.lua; the api builds them
-- from the values it put in the row), and its `Idempotency-Key` record
-- (`P idem:…`, '' for none) with the request's digest.
--
-- A create whose key is recorded already is not made again: with the same
-- digest it answers 'IDEM {id}' (the row the first one made; a retry), with
-- another 'IDEM_MISMATCH'. A made create records its key in this step.
--
-- The creates an api shard gathered (see api/src/creates.rs), in one
-- atomic step. Each is checked and answered on its own: the reply holds,
-- after 'OK', one entry per task in order, its new id or the code of the
-- rule that refused it (nothing of it is then written); a create that was
-- counted here answers {that, then gcra's five numbers}. The accepted ones
-- share the counter, index and dirty-set calls.
local shut = closed() if shut then return err(shut) end
local n = (#ARGV - 4) / 14
local user_quota, group_quota = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {'OK'}
-- Nothing a check reads changes within this step, so each distinct check
-- runs once (a client creating many tasks pays for one).
local verdicts = {}
-- How many tasks each user and group of the batch holds, with the
-- batch's accepted creates counted in as they are accepted.
local held = {}
local function holding(key)
  if held[key] == nil then held[key] = redis.call('SCARD', key) end
  return held[key]
end
-- Room for one more task of user uid in group gid under the quotas, taken;
-- or the quota that is full.
local function take_room(uid, gid)
  local ukey, gkey = P .. 'user:' .. uid .. ':tasks', P .. 'group:' .. gid .. ':tasks'
  if user_quota > 0 and holding(ukey) >= user_quota then return 'USER_QUOTA' end
  if group_quota > 0 and holding(gkey) >= group_quota then return 'GROUP_QUOTA' end
  if user_quota > 0 then held[ukey] = held[ukey] + 1 end
  if group_quota > 0 then held[gkey] = held[gkey] + 1 end
  return false
end
local accepted = {}
local counts = {}
-- Idempotency keys made in this batch, and the creates that are retries.
local keyed, replays = {}, {}
local function answer_replays()
  for i, again in pairs(replays) do
    out[i + 2] = 'IDEM ' .. (again.id or out[again.index + 2])
  end
end
for i = 0, n - 1 do
  local b = 5 + i * 14
  local refused = nil
  if ARGV[b + 5] ~= '' then
    counts[i] = gcra(ARGV[b + 5], tonumber(ARGV[b + 6]), tonumber(ARGV[b + 7]), tonumber(ARGV[b + 8]))
    if counts[i][1] == 0 then refused = 'RATE_LIMITED' end
  end
  if not refused then
    local key = ARGV[b] .. ' ' .. ARGV[b + 1] .. ' ' .. ARGV[b + 2] .. ' ' .. ARGV[b + 3]
    refused = verdicts[key]
    if refused == nil then
      refused = create_check(ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3])
      verdicts[key] = refused
    end
  end
  local ikey, idigest = ARGV[b + 12], ARGV[b + 13]
  local again = false
  if not refused and ikey ~= '' then
    local first = keyed[ikey]
    if first then
      -- A retry in the same batch as its first try.
      if first.digest ~= idigest then refused = 'IDEM_MISMATCH' else again = first end
    else
      local held = redis.call('HMGET', ikey, 'digest', 'id')
      if held[1] then
        if held[1] ~= idigest then refused = 'IDEM_MISMATCH' else again = {id = held[2]} end
      end
    end
  end
  if not refused and not again then refused = take_room(ARGV[b], ARGV[b + 1]) end
  if refused then
    out[i + 2] = refused
  elseif again then
    replays[i] = again
  else
    accepted[#accepted + 1] = i
    if ikey ~= '' then keyed[ikey] = {digest = idigest, index = i} end
  end
end
-- The counted creates answer their count beside their result.
local function with_counts()
  for i, c in pairs(counts) do
    out[i + 2] = {out[i + 2], c[1], c[2], c[3], c[4], c[5]}
  end
  return out
end
if #accepted == 0 then
  answer_replays()
  return with_counts()
end
local last = redis.call('INCRBY', P .. 'seq:tasks', #accepted)
-- Every call below covers the whole batch, or all of one user's or one
-- group's new tasks in it: a call from Lua costs about as much as the
-- work it does on one row.
local ids, rows = {}, {}
local of_user, users, of_group, groups = {}, {}, {}, {}
local order_of_user, order_of_group = {}, {}
-- The new tasks of each group and label: `{gid}\n{label}` → {gid, label, ids}.
local labelled = {}
for j, i in ipairs(accepted) do
  local b = 5 + i * 14
  local uid, gid = ARGV[b], ARGV[b + 1]
  local id = string.format('%d', last - #accepted + j)
  ids[j] = id
  out[i + 2] = id
  rows[2 * j - 1] = P .. 'task:' .. id
  rows[2 * j] = '{"id":' .. id .. ARGV[b + 4]
  if not of_user[uid] then
    of_user[uid] = {}
    order_of_user[uid] = {}
    users[#users + 1] = uid
  end
  table.insert(of_user[uid], id)
  if not of_group[gid] then
    of_group[gid] = {}
    order_of_group[gid] = {}
    groups[#groups + 1] = gid
  end
  table.insert(of_group[gid], id)
  -- Its place in `accepted`: add_orders builds its members only for a
  -- user or group that keeps an order index.
  table.insert(order_of_user[uid], j)
  table.insert(order_of_group[gid], j)
  if ARGV[b + 9] ~= '' then
    for _, l in ipairs(split_labels(ARGV[b + 9])) do
      local key = gid .. '\n' .. l
      local entry = labelled[key]
      if not entry then
        entry = {gid, l, {}}
        labelled[key] = entry
      end
      table.insert(entry[3], id)
    end
  end
end
-- The label index: one SADD and one HINCRBY per label of a group, not per
-- task (what index_labels in common.lua does for one task).
for _, e in pairs(labelled) do
  local added = redis.call('SADD', k('group', e[1], 'label', e[2]), unpack(e[3]))
  if added > 0 then redis.call('HINCRBY', k('group', e[1], 'labels'), e[2], added) end
end
-- New tasks' members in the order indexes one user or group keeps
-- (scope: its row key; entries: the tasks' places in `accepted`, whose
-- member heads are their creates' arguments; see order_put in
-- common.lua), one ZADD per index.
local function add_orders(scope, entries)
  local kinds = redis.call('HKEYS', scope .. ':sorts')
  if #kinds == 0 then return end
  local wanted = {}
  for _, kind in ipairs(kinds) do
    if SORT_KINDS[kind] then wanted[kind] = {} end
  end
  for _, j in ipairs(entries) do
    local id16 = string.format('%016d', last - #accepted + j)
    local ids = wanted.i
    if ids then
      ids[#ids + 1] = 0
      ids[#ids + 1] = 'i' .. id16
    end
    for head in string.gmatch(ARGV[5 + accepted[j] * 14 + 11], '[^\n]+') do
      local list = wanted[string.sub(head, 1, 1)]
      if list then
        list[#list + 1] = 0
        list[#list + 1] = head .. id16
      end
    end
  end
  for kind, list in pairs(wanted) do
    if #list > 0 then redis.call('ZADD', sort_key(scope, kind), unpack(list)) end
  end
end
redis.call('MSET', unpack(rows))
for _, uid in ipairs(users) do
  redis.call('SADD', P .. 'user:' .. uid .. ':tasks', unpack(of_user[uid]))
  add_orders(P .. 'user:' .. uid, order_of_user[uid])
  tasks_changed(uid)
end
for _, gid in ipairs(groups) do
  redis.call('SADD', P .. 'group:' .. gid .. ':tasks', unpack(of_group[gid]))
  add_orders(P .. 'group:' .. gid, order_of_group[gid])
end
-- Marked dirty all at once (what dirty_task() does for one row), and
-- logged one by one: the change log holds one entry per row.
redis.call('SADD', P .. 'dirty:tasks', unpack(ids))
redis.call('SET', P .. 'dirty:since', NOW, 'NX')
-- Each made create's key, with the row it made, for its retries.
for j, i in ipairs(accepted) do
  local ikey = ARGV[5 + i * 14 + 12]
  if ikey ~= '' then
    redis.call('HSET', ikey, 'digest', ARGV[5 + i * 14 + 13], 'id', ids[j])
    redis.call('EXPIRE', ikey, 86400)
  end
end
answer_replays()
local contexts = {}
for j, i in ipairs(accepted) do
  local b = 5 + i * 14
  local text = ARGV[b + 10]
  if not contexts[text] then contexts[text] = context(text) end
  log('task', ids[j], 'created', {'user', ARGV[b], 'group', ARGV[b + 1], 'row', rows[2 * j]}, contexts[text])
end
return with_counts()
