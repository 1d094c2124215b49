//! One write-behind step: dirty rows from Redis into PostgreSQL.
//!
//! 1. **Hand-off.** One script renames each `dirty:{type}` set to
//!    `inflight:{type}` (merging into a leftover in-flight set after a
//!    crash). Writes that land from then on go to a fresh dirty set and are
//!    flushed next time; nothing is lost in between.
//! 2. **Snapshot.** The in-flight rows are read in one MULTI/EXEC, so the
//!    rows of one flush are consistent with each other (a user and the group
//!    it joined, a task and its group). An id whose row is gone was deleted.
//! 3. **Write.** One PostgreSQL transaction: batched upserts (UNNEST, one
//!    statement per table, never one per row), memberships replaced for
//!    every flushed user, deletes for rows gone from Redis. Constraints are
//!    deferred, so only the committed whole must be consistent.
//! 4. **Clear.** Only after COMMIT are the in-flight sets dropped. A crash
//!    before that flushes the same rows again; every statement is an upsert
//!    or a delete by id, so re-running is harmless.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use postgres::Client;
use redis::Value;
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::model::{Fields, Group, Task, User};
use taskmaster_shared::redis_pool::{self, RedisPool};

use crate::pg::{PgError, PgWorker};

/// Why a flush failed; nothing was cleared and the next one retries.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("timed out waiting for a redis connection")]
    RedisPool,
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error("another syncd holds a newer lease; this one stops flushing")]
    Fenced,
}

impl FlushError {
    /// PostgreSQL lacks a table the flush needs (a database recreated or
    /// restored from before a migration): applying the migrations again
    /// can fix it.
    pub fn is_missing_schema(&self) -> bool {
        matches!(self, FlushError::Postgres(PgError::Query(e))
            if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE))
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub upserted: [usize; 3],
    pub deleted: [usize; 3],
    pub duration: Duration,
}

impl FlushReport {
    pub fn rows(&self) -> usize {
        self.upserted.iter().sum::<usize>() + self.deleted.iter().sum::<usize>()
    }
}

/// The rows to write, read from one consistent snapshot.
#[derive(Debug, Default)]
struct Batch {
    users: Vec<User>,
    groups: Vec<Group>,
    tasks: Vec<Task>,
    deleted_users: Vec<i64>,
    deleted_groups: Vec<i64>,
    deleted_tasks: Vec<i64>,
    /// Every flushed user id: their memberships are rewritten.
    member_users: Vec<i64>,
}

fn ids(v: Value) -> Vec<u64> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    let mut out: Vec<u64> = items
        .iter()
        .filter_map(|i| match i {
            Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out
}

fn fields(v: Value) -> Fields {
    let Value::Array(items) = v else {
        return Fields::new();
    };
    let mut out = Fields::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(Value::BulkString(k)), Some(Value::BulkString(v))) = (it.next(), it.next()) {
        if let (Ok(k), Ok(v)) = (String::from_utf8(k), String::from_utf8(v)) {
            out.insert(k, v);
        }
    }
    out
}

/// Moves the dirty ids to the in-flight sets and returns them per type.
async fn take(redis: &RedisPool, keys: &Keys) -> Result<[Vec<u64>; 3], FlushError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(include_str!("lua/take_dirty.lua")));
    let mut conn = redis_pool::shared(redis)
        .await
        .map_err(|_| FlushError::RedisPool)?;
    let reply: Vec<Value> = SCRIPT.arg(keys.prefix()).invoke_async(&mut conn).await?;
    let mut it = reply.into_iter();
    let mut next = || it.next().map(ids).unwrap_or_default();
    Ok([next(), next(), next()])
}

/// Reads the rows of the in-flight ids in one MULTI/EXEC.
async fn snapshot(
    redis: &RedisPool,
    keys: &Keys,
    taken: &[Vec<u64>; 3],
) -> Result<Batch, FlushError> {
    let [user_ids, group_ids, task_ids] = taken;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for id in user_ids {
        pipe.cmd("HGETALL")
            .arg(keys.row(RowType::User, *id))
            .cmd("SMEMBERS")
            .arg(keys.user_groups(*id));
    }
    for id in group_ids {
        pipe.cmd("HGETALL").arg(keys.row(RowType::Group, *id));
    }
    for id in task_ids {
        pipe.cmd("GET").arg(keys.row(RowType::Task, *id));
    }
    let mut batch = Batch::default();
    if user_ids.is_empty() && group_ids.is_empty() && task_ids.is_empty() {
        return Ok(batch);
    }
    let mut conn = redis_pool::shared(redis)
        .await
        .map_err(|_| FlushError::RedisPool)?;
    let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
    let mut it = replies.into_iter();
    for id in user_ids {
        let (row, groups) = (
            it.next().unwrap_or(Value::Nil),
            it.next().unwrap_or(Value::Nil),
        );
        batch.member_users.push(*id as i64);
        match User::from_fields(&fields(row), ids(groups)) {
            Some(user) => batch.users.push(user),
            None => batch.deleted_users.push(*id as i64),
        }
    }
    for id in group_ids {
        match Group::from_fields(&fields(it.next().unwrap_or(Value::Nil))) {
            Some(group) => batch.groups.push(group),
            None => batch.deleted_groups.push(*id as i64),
        }
    }
    for id in task_ids {
        let task = match it.next() {
            Some(Value::BulkString(raw)) => Task::from_json(&raw),
            _ => None,
        };
        match task {
            Some(task) => batch.tasks.push(task),
            None => batch.deleted_tasks.push(*id as i64),
        }
    }
    Ok(batch)
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn i64s(v: impl IntoIterator<Item = u64>) -> Vec<i64> {
    v.into_iter().map(|n| n as i64).collect()
}

/// Writes a batch in one transaction. With a fencing `token`, the
/// transaction first records it and gives up (returns `Ok(false)`) if a
/// newer token was already recorded.
fn write(client: &mut Client, b: &Batch, token: Option<u64>) -> Result<bool, postgres::Error> {
    let mut tx = client.transaction()?;
    if let Some(token) = token {
        let accepted = tx.query_opt(
            "INSERT INTO sync_fence (id, token) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token WHERE sync_fence.token <= EXCLUDED.token
             RETURNING token",
            &[&(token as i64)],
        )?;
        if accepted.is_none() {
            return Ok(false);
        }
    }
    if !b.users.is_empty() {
        let u = &b.users;
        tx.execute(
            "INSERT INTO users (id, full_name, email, role, number, password_hash, work_times, created_at, updated_at)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::jsonb[], $8::timestamptz[], $9::timestamptz[])
             ON CONFLICT (id) DO UPDATE SET full_name = EXCLUDED.full_name, email = EXCLUDED.email,
                 role = EXCLUDED.role, number = EXCLUDED.number, password_hash = EXCLUDED.password_hash,
                 work_times = EXCLUDED.work_times, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
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
    }
    if !b.tasks.is_empty() {
        let t = &b.tasks;
        tx.execute(
            "INSERT INTO tasks (id, title, status, priority, deadline, information, user_id, group_id, created_at, updated_at)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bool[], $4::smallint[], $5::date[], $6::text[],
                                  $7::bigint[], $8::bigint[], $9::timestamptz[], $10::timestamptz[])
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, status = EXCLUDED.status,
                 priority = EXCLUDED.priority, deadline = EXCLUDED.deadline, information = EXCLUDED.information,
                 user_id = EXCLUDED.user_id, group_id = EXCLUDED.group_id, created_at = EXCLUDED.created_at,
                 updated_at = EXCLUDED.updated_at",
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
            ],
        )?;
    }
    if !b.deleted_tasks.is_empty() {
        tx.execute("DELETE FROM tasks WHERE id = ANY($1)", &[&b.deleted_tasks])?;
    }
    if !b.deleted_groups.is_empty() {
        tx.execute(
            "DELETE FROM groups WHERE id = ANY($1)",
            &[&b.deleted_groups],
        )?;
    }
    if !b.deleted_users.is_empty() {
        tx.execute("DELETE FROM users WHERE id = ANY($1)", &[&b.deleted_users])?;
    }
    tx.commit()?;
    Ok(true)
}

/// One flush: hand-off, snapshot, one transaction, then clear. `token` is
/// the fencing token of the lease holder (`None`: unfenced, for tools and
/// tests that run alone).
pub async fn flush_once(
    redis: &RedisPool,
    keys: &Keys,
    pg: &PgWorker,
    token: Option<u64>,
) -> Result<FlushReport, FlushError> {
    let started = Instant::now();
    let taken = take(redis, keys).await?;
    if taken.iter().all(Vec::is_empty) {
        return Ok(FlushReport {
            duration: started.elapsed(),
            ..FlushReport::default()
        });
    }
    let batch = snapshot(redis, keys, &taken).await?;
    let report = FlushReport {
        upserted: [batch.users.len(), batch.groups.len(), batch.tasks.len()],
        deleted: [
            batch.deleted_users.len(),
            batch.deleted_groups.len(),
            batch.deleted_tasks.len(),
        ],
        duration: Duration::ZERO,
    };
    if !pg
        .run(move |client| Ok(write(client, &batch, token)?))
        .await?
    {
        return Err(FlushError::Fenced);
    }
    // Committed: only now may the in-flight ids go.
    let mut conn = redis_pool::shared(redis)
        .await
        .map_err(|_| FlushError::RedisPool)?;
    let mut del = redis::cmd("DEL");
    for t in RowType::ALL {
        del.arg(keys.inflight(t));
    }
    del.query_async::<()>(&mut conn).await?;
    Ok(FlushReport {
        duration: started.elapsed(),
        ..report
    })
}
