-- ARGV: P, now, user id, token id, now (Unix ms), least gap (ms).
-- Records that a personal API token was used, at most once per gap: its
-- record's `last used` field moves, and the user is written behind again.
-- Returns 1 when it moved, 0 otherwise (also during maintenance: a missed
-- mark is harmless).
if closed() then return 0 end
local uid, tkey = ARGV[3], k('token', ARGV[4])
local record = redis.call('GET', tkey)
if not record then return 0 end
local head, last, name = string.match(record, '^(%d+ %S+ [01] %d+ %x+ %d+) (%d+) (.*)$')
if not head or string.match(head, '^%d+') ~= uid then return 0 end
local now = tonumber(ARGV[5])
if now - tonumber(last) < tonumber(ARGV[6]) then return 0 end
redis.call('SET', tkey, head .. ' ' .. ARGV[5] .. ' ' .. name)
mark('user', uid)
return 1
