-- Issue 22 (audit log): one row per change log entry, appended by syncd's
-- audit consumer (see syncd/src/audit/).
--
-- The key is the entry's stream id (`{ms}-{seq}`, split into two numbers
-- so that it sorts as the stream does): a replay after a crash between the
-- commit and the acknowledgement inserts with ON CONFLICT DO NOTHING and
-- writes nothing twice.
--
-- The table is append-only: triggers refuse UPDATE, DELETE and TRUNCATE,
-- so not even a mistaken statement of ours rewrites history. (DROP is an
-- operator's decision and stays possible.)
CREATE TABLE audit_log (
    stream_ms  bigint      NOT NULL CHECK (stream_ms >= 0),
    stream_seq bigint      NOT NULL CHECK (stream_seq >= 0),
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    auth       text        NOT NULL,
    token_id   text,
    request_id text,
    action     text        NOT NULL,
    entity     text        NOT NULL,
    entity_id  text        NOT NULL,
    changes    jsonb,
    PRIMARY KEY (stream_ms, stream_seq)
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, stream_ms DESC, stream_seq DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, stream_ms DESC, stream_seq DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
