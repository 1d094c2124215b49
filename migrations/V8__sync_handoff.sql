-- Which hand-off the last committed flush wrote (issue 26, the fault run).
--
-- Every flush's hand-off (syncd/src/lua/take_dirty.lua) numbers itself
-- from `P meta:handoffs` and keeps the number in `P inflight:handoff`
-- until the clear. The flush records it here in its transaction. After a
-- Redis restart that lost the effects of a committed flush, comparing the
-- two tells syncd which of the rows still pending in Redis are newer than
-- PostgreSQL's (see syncd/src/reconcile.rs): with the hand-off's number
-- still in flight, only the dirty rows (written after it); with an older
-- number, none (the lost hand-off took them all, and the flush wrote them
-- as new or newer).
ALTER TABLE sync_state ADD COLUMN last_handoff bigint NOT NULL DEFAULT 0;

-- How many Redis servers syncd has checked against PostgreSQL (see
-- syncd/src/reconcile.rs), counted before the check lets the api hand out
-- ids. A Redis server without the check's marker (`P meta:ids_run`) is
-- new only while this is 0: otherwise the marker was lost with the data
-- (a crash of Redis's host in the second after a check; the fault run
-- found ids answered twice that way), and the id counters skip ahead as
-- after any restart.
ALTER TABLE sync_state ADD COLUMN checks bigint NOT NULL DEFAULT 0;
