-- Issue 19 (accounts): deactivation, and personal API tokens.
--
-- `active`: a deactivated user keeps its data but cannot sign in by any
-- method; `true` brings it back.
--
-- `api_tokens`: written behind with the user they belong to (a flush
-- replaces a flushed user's tokens, as it does its memberships). Only a
-- BLAKE2b-256 digest of each secret is stored: a digest of 256 random bits
-- needs no salt or slow hash, and cannot be replayed as the token.
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;

CREATE TABLE api_tokens (
    id           text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{22}$'),
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    secret_hash  text        NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
    read_only    boolean     NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);
