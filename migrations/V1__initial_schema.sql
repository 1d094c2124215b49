-- The durable copy of taskmaster's data. Redis is the primary store; syncd
-- writes rows behind into these tables and can rebuild Redis from them.
--
-- Ids come from Redis counters (INCR), never from PostgreSQL sequences.
-- Foreign keys are DEFERRABLE INITIALLY DEFERRED, and so are the
-- case-insensitive uniqueness rules: a flush writes many rows in one
-- transaction, and only the committed whole has to be consistent (two users
-- swapping emails, or a group and its new admin, arrive in any order).

CREATE TABLE users (
    id            bigint      PRIMARY KEY CHECK (id > 0),
    full_name     text        NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND 255),
    email         text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    email_key     text        GENERATED ALWAYS AS (lower(email)) STORED,
    role          text        NOT NULL CHECK (role IN ('owner', 'group_admin', 'user')),
    number        text        NOT NULL DEFAULT '' CHECK (char_length(number) <= 64),
    -- argon2id PHC string; plaintext passwords are never stored.
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    work_times    jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(work_times) = 'object'),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email_key) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE groups (
    id         bigint      PRIMARY KEY CHECK (id > 0),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    name_key   text        GENERATED ALWAYS AS (lower(name)) STORED,
    admin_id   bigint      NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT groups_name_key UNIQUE (name_key) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX groups_admin_id_idx ON groups (admin_id);

CREATE TABLE user_groups (
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group_id_idx ON user_groups (group_id);

CREATE TABLE tasks (
    id          bigint      PRIMARY KEY CHECK (id > 0),
    title       text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 255),
    status      boolean     NOT NULL DEFAULT false,
    priority    smallint    NOT NULL CHECK (priority BETWEEN 1 AND 3),
    deadline    date,
    information text        NOT NULL DEFAULT '' CHECK (char_length(information) <= 5000),
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    group_id    bigint      NOT NULL REFERENCES groups (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX tasks_user_id_idx ON tasks (user_id);
CREATE INDEX tasks_group_id_idx ON tasks (group_id);
