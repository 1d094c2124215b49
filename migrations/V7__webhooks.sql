-- Issue 22 (webhooks): registered hooks, the fourth row type written
-- behind (see syncd/src/flush/).
--
-- `group_id` is null for the owner's global hooks; a group's hooks go with
-- the group. `secret` is the HMAC key deliveries are signed with: syncd
-- needs it in the clear, so it is stored as given (the api shows it once,
-- at creation). `events` lists what the hook receives (`task.created`,
-- `user.*`, …).
--
-- `sync_state.last_webhook_id` is the webhooks' counter at the last flush,
-- as for the other row types (see V3).
CREATE TABLE webhooks (
    id         bigint      PRIMARY KEY CHECK (id > 0),
    group_id   bigint      REFERENCES groups (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    url        text        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    events     text[]      NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 16),
    secret     text        NOT NULL CHECK (char_length(secret) BETWEEN 16 AND 256),
    active     boolean     NOT NULL,
    created_by bigint      CHECK (created_by > 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX webhooks_group_id_idx ON webhooks (group_id);

ALTER TABLE sync_state ADD COLUMN last_webhook_id bigint NOT NULL DEFAULT 0;
