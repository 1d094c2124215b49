-- ARGV: P, then keys of the id indexes of earlier layouts (`P user:{id}:order`,
-- `P group:{id}:order`, `P tasks:order`), which every write kept for every
-- user and group (and the first with every order's members). Unlinks each
-- (Redis frees a large one in the background) unless its user or group
-- keeps it now: its `…:sorts` hash exists, so a build since the upgrade
-- made it (sort_build.lua, which also drops what it finds of an old one).
-- In one step per key, so that no build starts between the check and the
-- unlink. Returns how many it unlinked.
local n = 0
for i = 2, #ARGV do
  local scope = string.match(ARGV[i], '^(.*):order$')
  if scope and redis.call('EXISTS', scope .. ':sorts') == 0 then
    n = n + redis.call('UNLINK', ARGV[i])
  end
end
return n
