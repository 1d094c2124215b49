-- What PostgreSQL knows of the write-behind, so that Redis can be checked
-- against it after Redis lost its last second (or all of its data):
-- * flushes: the number of committed flushes. The flush's clear step
--   records it in Redis (`P meta:flushes`); a Redis that restarts with a
--   smaller number lost the effects of a flush PostgreSQL holds, and syncd
--   reconciles it from PostgreSQL.
-- * last_*_id: the highest id Redis had handed out when a flush took its
--   rows. The counters are raised to at least these (and the highest ids
--   present) before ids are handed out again, so a deleted id above the
--   highest row is not reused either.
CREATE TABLE sync_state (
    id            smallint PRIMARY KEY CHECK (id = 1),
    flushes       bigint   NOT NULL DEFAULT 0,
    last_user_id  bigint   NOT NULL DEFAULT 0,
    last_group_id bigint   NOT NULL DEFAULT 0,
    last_task_id  bigint   NOT NULL DEFAULT 0
);
INSERT INTO sync_state (id) VALUES (1);
