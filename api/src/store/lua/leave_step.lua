-- ARGV: P, now, user id, group id. The next step of a leave that
-- `leave_group` recorded in `P leaving` (see there). Returns
-- {'OK', moved}, and 'MORE' after it before the last step.
local shut = closed() if shut then return err(shut) end
local n, more = leave_step(ARGV[3], ARGV[4], LEAVE_MOVES)
if more then return {'OK', n, 'MORE'} end
return {'OK', n}
