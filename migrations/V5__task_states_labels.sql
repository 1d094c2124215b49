-- Issue 20 (richer tasks): a workflow state, who created a task, labels,
-- and when it was completed.
--
-- `state` is the truth and `status` (the reference's boolean) follows it:
-- the CHECK holds them together. Rows from before get `done` or `todo`
-- from their status, no creator and no labels; `completed_at` stays null
-- for tasks done before it was recorded.
--
-- `created_by` has no foreign key: it records who created the task, and
-- stays when that account is deleted later.
ALTER TABLE tasks
    ADD COLUMN state        text        NOT NULL DEFAULT 'todo'
                                        CHECK (state IN ('todo', 'in_progress', 'done')),
    ADD COLUMN created_by   bigint      CHECK (created_by > 0),
    ADD COLUMN labels       text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(labels) <= 20),
    ADD COLUMN completed_at timestamptz CHECK (completed_at IS NULL OR state = 'done');

UPDATE tasks SET state = 'done' WHERE status;

ALTER TABLE tasks ADD CONSTRAINT tasks_status_follows_state CHECK (status = (state = 'done'));
