-- ARGV: P, now, the user, the caller who must administer each group (''
-- when not required), the most tasks a user and a group may hold ('0': no
-- limit), the import's row count, then pairs of a group id and how many
-- rows go to it.
--
-- An import's rules that depend on the data, checked once per group
-- before an all-or-nothing import writes anything (and for a dry run):
-- the create's own (create_check.lua) and whether the quotas have room
-- for every row. Reads only. Answers {'OK', the user's verdict, then one
-- verdict per group in order}: '' when it passes, else the refusal's code.
local uid, caller = ARGV[3], ARGV[4]
local user_quota, group_quota = tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {'OK', ''}
if user_quota > 0 and redis.call('SCARD', P .. 'user:' .. uid .. ':tasks') + tonumber(ARGV[7]) > user_quota then
  out[2] = 'USER_QUOTA'
end
for i = 8, #ARGV, 2 do
  local gid = ARGV[i]
  local verdict = create_check(uid, gid, caller, '') or ''
  if verdict == '' and group_quota > 0
      and redis.call('SCARD', P .. 'group:' .. gid .. ':tasks') + tonumber(ARGV[i + 1]) > group_quota then
    verdict = 'GROUP_QUOTA'
  end
  out[#out + 1] = verdict
end
return out
