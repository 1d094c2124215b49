//! One write-behind step: dirty rows from Redis into PostgreSQL.
//!
//! 1. **Hand-off.** One script renames each `dirty:{type}` set to
//!    `inflight:{type}` (merging into a leftover in-flight set after a
//!    crash). Writes that land from then on go to a fresh dirty set and are
//!    flushed next time; nothing is lost in between. Only the lease holder
//!    may take ([`Holder`]; the script checks the lease).
//! 2. **Stream.** The in-flight ids are scanned (SSCAN) in chunks of
//!    `SYNC_CHUNK_ROWS` (default 5,000); each chunk's rows are read in one MULTI/EXEC (a user
//!    with its memberships) and handed to the PostgreSQL thread over a
//!    channel of [`CHUNKS_IN_FLIGHT`] slots, so memory stays bounded
//!    whatever the backlog (a million dirty rows included). An id whose row
//!    is gone was deleted.
//! 3. **Write.** One PostgreSQL transaction for the whole flush: batched
//!    upserts per chunk (UNNEST, one statement per table, never one per
//!    row), memberships replaced for every flushed user, then the deletes,
//!    last, so that a row removed in Redis takes its dependants with it,
//!    and `sync_state` (the flush's number and the id counters at the
//!    hand-off; see [`crate::reconcile`]).
//!    Constraints are deferred, so only the committed whole must be
//!    consistent. Rows changed while a flush runs are in the fresh dirty
//!    set, so a chunk read a little later than another is corrected by the
//!    next flush; if the mix breaks a constraint, the commit fails,
//!    nothing is cleared, and the retry reads everything again.
//! 4. **Clear.** Only after COMMIT are the in-flight sets dropped, and only
//!    while the flush's lease is still held, in one script: a daemon paused
//!    past its lease (SIGSTOP, a long stall) must not drop ids that the
//!    new holder has taken since. A flush that finds its lease gone before
//!    COMMIT rolls back ([`FlushError::LeaseLost`]). A crash, or a lost
//!    lease, before the clear flushes the same rows again; every statement
//!    is an upsert or a delete by id, so re-running is harmless.

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
    Redis(redis::RedisError),
    #[error("timed out waiting for a redis connection")]
    RedisPool,
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error("another syncd holds a newer lease; this one stops flushing")]
    Fenced,
    #[error("this syncd lost its lease during the flush; the new holder flushes these rows")]
    LeaseLost,
}

impl From<redis::RedisError> for FlushError {
    fn from(e: redis::RedisError) -> Self {
        if e.code() == Some("LEASE_LOST") {
            FlushError::LeaseLost
        } else {
            FlushError::Redis(e)
        }
    }
}

/// The lease a flush runs under: `P syncd:lease` holds `{instance}|{token}`
/// while this daemon is the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub instance: String,
    pub token: u64,
}

impl Holder {
    /// The lease's value while this holder has it.
    fn lease_value(&self) -> String {
        format!("{}|{}", self.instance, self.token)
    }
}

/// The lease value the scripts check; empty when unfenced.
fn lease_arg(holder: Option<&Holder>) -> String {
    holder.map(Holder::lease_value).unwrap_or_default()
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
    /// Committed flushes so far (`sync_state.flushes`), this one included.
    pub number: u64,
}

/// What a hand-off took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    /// Ids in flight per type (users, groups, tasks).
    pub pending: [u64; 3],
    /// The id counters (`seq:*`) at the hand-off.
    pub last_ids: [u64; 3],
}

impl FlushReport {
    pub fn rows(&self) -> usize {
        self.upserted.iter().sum::<usize>() + self.deleted.iter().sum::<usize>()
    }
}

/// Chunks queued between the Redis reader and the PostgreSQL writer.
const CHUNKS_IN_FLIGHT: usize = 1;

/// Rows to write: one chunk, read in one MULTI/EXEC.
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

async fn conn(redis: &RedisPool) -> Result<redis_pool::Conn, FlushError> {
    redis_pool::shared(redis)
        .await
        .map_err(|_| FlushError::RedisPool)
}

/// Moves the dirty ids to the in-flight sets (the hand-off); returns how
/// many ids each type has in flight, and the id counters. Refused
/// ([`FlushError::LeaseLost`]) unless `holder` holds the lease.
pub async fn take(
    redis: &RedisPool,
    keys: &Keys,
    holder: Option<&Holder>,
) -> Result<Taken, FlushError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(include_str!("lua/take_dirty.lua")));
    let mut conn = conn(redis).await?;
    let counts: Vec<u64> = SCRIPT
        .arg(keys.prefix())
        .arg(lease_arg(holder))
        .invoke_async(&mut conn)
        .await?;
    let count = |i: usize| counts.get(i).copied().unwrap_or(0);
    Ok(Taken {
        pending: [count(0), count(1), count(2)],
        last_ids: [count(3), count(4), count(5)],
    })
}

/// Reads the rows of one chunk of in-flight ids in one MULTI/EXEC.
async fn read_chunk(
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
    let mut conn = conn(redis).await?;
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

/// What the reader sends the writer.
enum Chunk {
    Rows(Batch),
    /// Every chunk was sent: delete, commit.
    End,
}

/// How the writer ended.
enum Written {
    Committed(FlushReport),
    /// A newer fencing token was recorded: nothing written.
    Fenced,
    /// The reader stopped without [`Chunk::End`] (a Redis error): rolled back.
    Abandoned,
}

/// Writes the chunks arriving on `chunks` in one transaction, deletes
/// last. With a fencing `token`, the transaction first records it and gives
/// up if a newer token was already recorded.
fn write_stream(
    client: &mut Client,
    mut chunks: tokio::sync::mpsc::Receiver<Chunk>,
    token: Option<u64>,
    last_ids: [u64; 3],
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
    let mut deleted: [Vec<i64>; 3] = Default::default();
    loop {
        match chunks.blocking_recv() {
            Some(Chunk::Rows(batch)) => {
                upsert(&mut tx, &batch)?;
                report.upserted[0] += batch.users.len();
                report.upserted[1] += batch.groups.len();
                report.upserted[2] += batch.tasks.len();
                deleted[0].extend(batch.deleted_users);
                deleted[1].extend(batch.deleted_groups);
                deleted[2].extend(batch.deleted_tasks);
            }
            Some(Chunk::End) => break,
            None => return Ok(Written::Abandoned),
        }
    }
    // Dependants first; cascades take what still points at a deleted row.
    let [users, groups, tasks] = &deleted;
    if !tasks.is_empty() {
        tx.execute("DELETE FROM tasks WHERE id = ANY($1)", &[tasks])?;
    }
    if !groups.is_empty() {
        tx.execute("DELETE FROM groups WHERE id = ANY($1)", &[groups])?;
    }
    if !users.is_empty() {
        tx.execute("DELETE FROM users WHERE id = ANY($1)", &[users])?;
    }
    let [u, g, t] = last_ids.map(|n| n as i64);
    let number: i64 = tx
        .query_one(
            "UPDATE sync_state SET flushes = flushes + 1,
                 last_user_id = GREATEST(last_user_id, $1),
                 last_group_id = GREATEST(last_group_id, $2),
                 last_task_id = GREATEST(last_task_id, $3)
             WHERE id = 1 RETURNING flushes",
            &[&u, &g, &t],
        )?
        .get(0);
    report.number = number as u64;
    tx.commit()?;
    report.deleted = [users.len(), groups.len(), tasks.len()];
    Ok(Written::Committed(report))
}

/// Upserts one chunk's rows and replaces its users' memberships.
fn upsert(tx: &mut postgres::Transaction<'_>, b: &Batch) -> Result<(), postgres::Error> {
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
    Ok(())
}

/// Marks every row dirty, so that the next flush writes everything: for a
/// database that is new or lost its tables while Redis kept its rows.
///
/// Tasks have no set of all ids (see `shared/src/keys.rs`): their ids come
/// from every user's task set, 500 users per `SUNIONSTORE`. The steps need
/// not be one atomic whole: a row written meanwhile marks itself dirty,
/// and a task deleted meanwhile is flushed as a delete.
pub async fn mark_all_dirty(redis: &RedisPool, keys: &Keys) -> Result<u64, FlushError> {
    let mut conn = conn(redis).await?;
    let mut pipe = redis::pipe();
    for t in [RowType::User, RowType::Group] {
        pipe.cmd("SUNIONSTORE")
            .arg(keys.dirty(t))
            .arg(keys.dirty(t))
            .arg(keys.all(t));
    }
    let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
    let users: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(keys.all(RowType::User))
        .query_async(&mut conn)
        .await?;
    let mut tasks = 0;
    for chunk in users.chunks(500) {
        let mut union = redis::cmd("SUNIONSTORE");
        union
            .arg(keys.dirty(RowType::Task))
            .arg(keys.dirty(RowType::Task));
        for user in chunk {
            union.arg(keys.user_tasks(*user));
        }
        tasks = union.query_async(&mut conn).await?;
    }
    Ok(counts.iter().sum::<u64>() + tasks)
}

/// Drops the in-flight sets after their flush committed, only while
/// `holder` still holds the lease (one script); otherwise
/// [`FlushError::LeaseLost`] and the sets stay for the new holder.
pub async fn clear(
    redis: &RedisPool,
    keys: &Keys,
    holder: Option<&Holder>,
    report: &FlushReport,
) -> Result<(), FlushError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(include_str!("lua/clear_inflight.lua")));
    let mut conn = conn(redis).await?;
    let _: u64 = SCRIPT
        .arg(keys.prefix())
        .arg(lease_arg(holder))
        .arg(report.number)
        .invoke_async(&mut conn)
        .await?;
    Ok(())
}

/// Whether `holder` still holds the lease (always, unfenced).
async fn still_holds(
    redis: &RedisPool,
    keys: &Keys,
    holder: Option<&Holder>,
) -> Result<bool, FlushError> {
    let Some(holder) = holder else {
        return Ok(true);
    };
    let mut conn = conn(redis).await?;
    let lease: Option<String> = redis::cmd("GET")
        .arg(keys.syncd_lease())
        .query_async(&mut conn)
        .await?;
    Ok(lease.as_deref() == Some(holder.lease_value().as_str()))
}

/// Scans the in-flight ids type by type (users, groups, tasks) in chunks
/// and sends each chunk's rows to the writer; before the last word (which
/// commits) checks that `holder` still holds the lease.
async fn read_all(
    redis: &RedisPool,
    keys: &Keys,
    chunk_rows: usize,
    holder: Option<&Holder>,
    chunks: tokio::sync::mpsc::Sender<Chunk>,
) -> Result<(), FlushError> {
    for (i, t) in RowType::ALL.into_iter().enumerate() {
        let mut cursor = 0u64;
        loop {
            let mut conn = conn(redis).await?;
            let (next, found): (u64, Vec<u64>) = redis::cmd("SSCAN")
                .arg(keys.inflight(t))
                .arg(cursor)
                .arg("COUNT")
                .arg(chunk_rows)
                .query_async(&mut conn)
                .await?;
            drop(conn);
            let mut ids = found;
            // SSCAN may repeat an id across calls; within a statement a
            // repeated id would be an error, across statements it is only
            // written twice.
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                let mut taken: [Vec<u64>; 3] = Default::default();
                taken[i] = ids;
                let batch = read_chunk(redis, keys, &taken).await?;
                if chunks.send(Chunk::Rows(batch)).await.is_err() {
                    // The writer stopped (its error is reported instead).
                    return Ok(());
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    // A paused daemon must not commit what it read before the pause over
    // what the new holder writes: dropping the sender rolls back.
    if !still_holds(redis, keys, holder).await? {
        return Err(FlushError::LeaseLost);
    }
    let _ = chunks.send(Chunk::End).await;
    Ok(())
}

/// One flush: hand-off, then the in-flight rows streamed in chunks into
/// one transaction, then clear. `holder` is the lease the flush runs under
/// (its token fences the transaction; `None`: unfenced, for tools and
/// tests that run alone). `chunk_rows` ids are read and written at a time.
pub async fn flush_once(
    redis: &RedisPool,
    keys: &Keys,
    pg: &PgWorker,
    holder: Option<&Holder>,
    chunk_rows: usize,
) -> Result<FlushReport, FlushError> {
    let started = Instant::now();
    let taken = take(redis, keys, holder).await?;
    if taken.pending.iter().all(|n| *n == 0) {
        return Ok(FlushReport {
            duration: started.elapsed(),
            ..FlushReport::default()
        });
    }
    let report = write_taken(redis, keys, pg, holder, &taken, chunk_rows).await?;
    // Committed: only now may the in-flight ids go.
    clear(redis, keys, holder, &report).await?;
    Ok(FlushReport {
        duration: started.elapsed(),
        ..report
    })
}

/// Streams the in-flight rows into one PostgreSQL transaction and commits
/// it, fenced by `holder`'s token, with `taken`'s id counters; clears
/// nothing.
pub async fn write_taken(
    redis: &RedisPool,
    keys: &Keys,
    pg: &PgWorker,
    holder: Option<&Holder>,
    taken: &Taken,
    chunk_rows: usize,
) -> Result<FlushReport, FlushError> {
    let token = holder.map(|h| h.token);
    let last_ids = taken.last_ids;
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let writer = pg.run(move |client| Ok(write_stream(client, receiver, token, last_ids)?));
    let (written, read) = tokio::join!(writer, read_all(redis, keys, chunk_rows, holder, sender));
    match (written?, read) {
        (Written::Committed(report), _) => Ok(report),
        (Written::Fenced, _) => Err(FlushError::Fenced),
        (Written::Abandoned, Err(e)) => Err(e),
        (Written::Abandoned, Ok(())) => Err(FlushError::Postgres(PgError::WorkerGone)),
    }
}
