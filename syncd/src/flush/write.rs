//! The PostgreSQL side of a flush: one transaction for every chunk,
//! fenced by the lease's token, with the deletes and `sync_state` last.

use chrono::{DateTime, NaiveDate, Utc};
use postgres::Client;
use taskmaster_shared::api_token::TokenRecord;
use taskmaster_shared::model::{Group, Task, User};
use taskmaster_shared::webhook::Webhook;

use super::FlushReport;

/// Rows to write: one chunk, read in one MULTI/EXEC.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) users: Vec<User>,
    pub(super) groups: Vec<Group>,
    pub(super) tasks: Vec<Task>,
    pub(super) webhooks: Vec<Webhook>,
    pub(super) deleted_users: Vec<i64>,
    pub(super) deleted_groups: Vec<i64>,
    pub(super) deleted_tasks: Vec<i64>,
    pub(super) deleted_webhooks: Vec<i64>,
    /// Every flushed user id: their memberships and tokens are rewritten.
    pub(super) member_users: Vec<i64>,
    /// The personal API tokens of the flushed users that still exist.
    pub(super) tokens: Vec<(String, TokenRecord)>,
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn from_ms(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms as i64).unwrap_or_default()
}

fn i64s(v: impl IntoIterator<Item = u64>) -> Vec<i64> {
    v.into_iter().map(|n| n as i64).collect()
}

/// What the reader sends the writer.
pub(super) enum Chunk {
    Rows(Box<Batch>),
    /// Every chunk was sent: delete, commit.
    End,
}

/// How the writer ended.
pub(super) enum Written {
    Committed(FlushReport),
    /// A newer fencing token was recorded: nothing written.
    Fenced,
    /// The reader stopped without [`Chunk::End`] (a Redis error): rolled back.
    Abandoned,
}

/// Writes the chunks arriving on `chunks` in one transaction, deletes
/// last. With a fencing `token`, the transaction first records it and gives
/// up if a newer token was already recorded.
pub(super) fn write_stream(
    client: &mut Client,
    mut chunks: tokio::sync::mpsc::Receiver<Chunk>,
    token: Option<u64>,
    taken: &super::Taken,
) -> Result<Written, postgres::Error> {
    let mut tx = client.transaction()?;
    if let Some(token) = token {
        let accepted = tx.query_opt(
            "INSERT INTO sync_fence (id, token) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token WHERE sync_fence.token <= EXCLUDED.token
             RETURNING token",
            &[&(token as i64)],
        )?;
        if accepted.is_none() {
            return Ok(Written::Fenced);
        }
    }
    let mut report = FlushReport::default();
    let mut deleted: [Vec<i64>; 4] = Default::default();
    loop {
        match chunks.blocking_recv() {
            Some(Chunk::Rows(batch)) => {
                upsert(&mut tx, &batch)?;
                report.upserted[0] += batch.users.len();
                report.upserted[1] += batch.groups.len();
                report.upserted[2] += batch.tasks.len();
                report.upserted[3] += batch.webhooks.len();
                deleted[0].extend(batch.deleted_users);
                deleted[1].extend(batch.deleted_groups);
                deleted[2].extend(batch.deleted_tasks);
                deleted[3].extend(batch.deleted_webhooks);
            }
            Some(Chunk::End) => break,
            None => return Ok(Written::Abandoned),
        }
    }
    // Dependants first; cascades take what still points at a deleted row.
    let [users, groups, tasks, webhooks] = &deleted;
    if !webhooks.is_empty() {
        tx.execute("DELETE FROM webhooks WHERE id = ANY($1)", &[webhooks])?;
    }
    if !tasks.is_empty() {
        tx.execute("DELETE FROM tasks WHERE id = ANY($1)", &[tasks])?;
    }
    if !groups.is_empty() {
        tx.execute("DELETE FROM groups WHERE id = ANY($1)", &[groups])?;
    }
    if !users.is_empty() {
        tx.execute("DELETE FROM users WHERE id = ANY($1)", &[users])?;
    }
    let [u, g, t, w] = taken.last_ids.map(|n| n as i64);
    let handoff = taken.handoff as i64;
    let number: i64 = tx
        .query_one(
            "UPDATE sync_state SET flushes = flushes + 1,
                 last_user_id = GREATEST(last_user_id, $1),
                 last_group_id = GREATEST(last_group_id, $2),
                 last_task_id = GREATEST(last_task_id, $3),
                 last_webhook_id = GREATEST(last_webhook_id, $4),
                 last_handoff = $5
             WHERE id = 1 RETURNING flushes",
            &[&u, &g, &t, &w, &handoff],
        )?
        .get(0);
    report.number = number as u64;
    tx.commit()?;
    report.deleted = [users.len(), groups.len(), tasks.len(), webhooks.len()];
    Ok(Written::Committed(report))
}

/// Upserts one chunk's rows and replaces its users' memberships.
fn upsert(tx: &mut postgres::Transaction<'_>, b: &Batch) -> Result<(), postgres::Error> {
    if !b.users.is_empty() {
        let u = &b.users;
        tx.execute(
            "INSERT INTO users (id, full_name, email, role, number, password_hash, work_times, created_at, updated_at, active)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::jsonb[], $8::timestamptz[], $9::timestamptz[], $10::bool[])
             ON CONFLICT (id) DO UPDATE SET full_name = EXCLUDED.full_name, email = EXCLUDED.email,
                 role = EXCLUDED.role, number = EXCLUDED.number, password_hash = EXCLUDED.password_hash,
                 work_times = EXCLUDED.work_times, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
                 active = EXCLUDED.active",
            &[
                &i64s(u.iter().map(|r| r.id)),
                &u.iter().map(|r| r.full_name.as_str()).collect::<Vec<_>>(),
                &u.iter().map(|r| r.email.as_str()).collect::<Vec<_>>(),
                &u.iter().map(|r| r.role.as_str()).collect::<Vec<_>>(),
                &u.iter().map(|r| r.number.as_str()).collect::<Vec<_>>(),
                &u.iter().map(|r| r.password_hash.as_str()).collect::<Vec<_>>(),
                &u.iter().map(|r| serde_json::to_value(&r.work_times).unwrap_or_default()).collect::<Vec<_>>(),
                &u.iter().map(|r| ts(&r.created_at)).collect::<Vec<_>>(),
                &u.iter().map(|r| ts(&r.updated_at)).collect::<Vec<_>>(),
                &u.iter().map(|r| r.active).collect::<Vec<_>>(),
            ],
        )?;
    }
    if !b.groups.is_empty() {
        let g = &b.groups;
        tx.execute(
            "INSERT INTO groups (id, name, admin_id, created_at, updated_at)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[])
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, admin_id = EXCLUDED.admin_id,
                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
            &[
                &i64s(g.iter().map(|r| r.id)),
                &g.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                &i64s(g.iter().map(|r| r.admin_id)),
                &g.iter().map(|r| ts(&r.created_at)).collect::<Vec<_>>(),
                &g.iter().map(|r| ts(&r.updated_at)).collect::<Vec<_>>(),
            ],
        )?;
    }
    if !b.member_users.is_empty() {
        tx.execute(
            "DELETE FROM user_groups WHERE user_id = ANY($1)",
            &[&b.member_users],
        )?;
        let (users, groups): (Vec<i64>, Vec<i64>) = b
            .users
            .iter()
            .flat_map(|u| u.group_ids.iter().map(|g| (u.id as i64, *g as i64)))
            .unzip();
        if !users.is_empty() {
            tx.execute(
                "INSERT INTO user_groups (user_id, group_id) SELECT * FROM UNNEST($1::bigint[], $2::bigint[])",
                &[&users, &groups],
            )?;
        }
        tx.execute(
            "DELETE FROM api_tokens WHERE user_id = ANY($1)",
            &[&b.member_users],
        )?;
        if !b.tokens.is_empty() {
            let t = &b.tokens;
            tx.execute(
                "INSERT INTO api_tokens (id, user_id, name, secret_hash, read_only, created_at, expires_at, last_used_at)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bool[],
                                      $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])",
                &[
                    &t.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
                    &i64s(t.iter().map(|(_, r)| r.user)),
                    &t.iter().map(|(_, r)| r.name.as_str()).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.digest.as_str()).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.read_only).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| from_ms(r.created_ms)).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.expires_ms.map(from_ms)).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.last_used_ms.map(from_ms)).collect::<Vec<_>>(),
                ],
            )?;
        }
    }
    if !b.webhooks.is_empty() {
        let w = &b.webhooks;
        tx.execute(
            "INSERT INTO webhooks (id, group_id, url, events, secret, active, created_by, created_at, updated_at)
             SELECT id, group_id, url, ARRAY(SELECT jsonb_array_elements_text(events)), secret, active,
                    created_by, created_at, updated_at
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::jsonb[], $5::text[], $6::bool[],
                         $7::bigint[], $8::timestamptz[], $9::timestamptz[])
                  AS w(id, group_id, url, events, secret, active, created_by, created_at, updated_at)
             ON CONFLICT (id) DO UPDATE SET group_id = EXCLUDED.group_id, url = EXCLUDED.url,
                 events = EXCLUDED.events, secret = EXCLUDED.secret, active = EXCLUDED.active,
                 created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at,
                 updated_at = EXCLUDED.updated_at",
            &[
                &i64s(w.iter().map(|r| r.id)),
                &w.iter().map(|r| r.group_id.map(|g| g as i64)).collect::<Vec<_>>(),
                &w.iter().map(|r| r.url.as_str()).collect::<Vec<_>>(),
                // As the labels: one JSON array per row (see below).
                &w.iter().map(|r| postgres::types::Json(&r.events)).collect::<Vec<_>>(),
                &w.iter().map(|r| r.secret.as_str()).collect::<Vec<_>>(),
                &w.iter().map(|r| r.active).collect::<Vec<_>>(),
                &w.iter().map(|r| r.created_by.map(|id| id as i64)).collect::<Vec<_>>(),
                &w.iter().map(|r| ts(&r.created_at)).collect::<Vec<_>>(),
                &w.iter().map(|r| ts(&r.updated_at)).collect::<Vec<_>>(),
            ],
        )?;
    }
    if !b.tasks.is_empty() {
        let t = &b.tasks;
        tx.execute(
            "INSERT INTO tasks (id, title, status, priority, deadline, information, user_id, group_id,
                                created_at, updated_at, state, created_by, labels, completed_at)
             SELECT id, title, status, priority, deadline, information, user_id, group_id, created_at,
                    updated_at, state, created_by, ARRAY(SELECT jsonb_array_elements_text(labels)), completed_at
             FROM UNNEST($1::bigint[], $2::text[], $3::bool[], $4::smallint[], $5::date[], $6::text[],
                         $7::bigint[], $8::bigint[], $9::timestamptz[], $10::timestamptz[], $11::text[],
                         $12::bigint[], $13::jsonb[], $14::timestamptz[])
                  AS t(id, title, status, priority, deadline, information, user_id, group_id, created_at,
                       updated_at, state, created_by, labels, completed_at)
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, status = EXCLUDED.status,
                 priority = EXCLUDED.priority, deadline = EXCLUDED.deadline, information = EXCLUDED.information,
                 user_id = EXCLUDED.user_id, group_id = EXCLUDED.group_id, created_at = EXCLUDED.created_at,
                 updated_at = EXCLUDED.updated_at, state = EXCLUDED.state, created_by = EXCLUDED.created_by,
                 labels = EXCLUDED.labels, completed_at = EXCLUDED.completed_at",
            &[
                &i64s(t.iter().map(|r| r.id)),
                &t.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(),
                &t.iter().map(|r| r.status).collect::<Vec<_>>(),
                &t.iter().map(|r| i16::from(r.priority)).collect::<Vec<_>>(),
                &t.iter().map(|r| NaiveDate::parse_from_str(&r.deadline, "%Y-%m-%d").ok()).collect::<Vec<_>>(),
                &t.iter().map(|r| r.information.as_str()).collect::<Vec<_>>(),
                &i64s(t.iter().map(|r| r.user_id)),
                &i64s(t.iter().map(|r| r.group_id)),
                &t.iter().map(|r| ts(&r.created_at)).collect::<Vec<_>>(),
                &t.iter().map(|r| ts(&r.updated_at)).collect::<Vec<_>>(),
                &t.iter().map(|r| r.state.as_str()).collect::<Vec<_>>(),
                &t.iter().map(|r| r.created_by.map(|id| id as i64)).collect::<Vec<_>>(),
                // One array per task: UNNEST would flatten a text[][] (and
                // PostgreSQL's arrays must be rectangular), so each goes as
                // a JSON array and is turned back into text[] above.
                &t.iter().map(|r| postgres::types::Json(&r.labels)).collect::<Vec<_>>(),
                &t.iter().map(|r| r.completed_at.as_deref().map(ts)).collect::<Vec<_>>(),
            ],
        )?;
    }
    Ok(())
}
