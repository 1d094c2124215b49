//! One write-behind step: dirty rows from Redis into PostgreSQL. The
//! lease-fenced hand-off and clear (steps 1 and 4) are in `handoff.rs`,
//! the PostgreSQL transaction (step 3) in `write.rs`; the reading and the
//! whole step are here.
//!
//! 1. **Hand-off.** One script renames each `dirty:{type}` set to
//!    `inflight:{type}` (merging into a leftover in-flight set after a
//!    crash). Writes that land from then on go to a fresh dirty set and are
//!    flushed next time; nothing is lost in between. Only the lease holder
//!    may take ([`Holder`]; the script checks the lease).
//! 2. **Stream.** The in-flight ids are scanned (SSCAN) in chunks of
//!    `SYNC_CHUNK_ROWS` (default 5,000); each chunk's rows are read in one MULTI/EXEC (a user
//!    with its memberships and its personal API tokens) and handed to the PostgreSQL thread over a
//!    channel of [`CHUNKS_IN_FLIGHT`] slots, so memory stays bounded
//!    whatever the backlog (a million dirty rows included). An id whose row
//!    is gone was deleted.
//! 3. **Write.** One PostgreSQL transaction for the whole flush: batched
//!    upserts per chunk (UNNEST, one statement per table, never one per
//!    row), memberships and tokens replaced for every flushed user, then the deletes,
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

use redis::Value;
use taskmaster_shared::api_token::TokenRecord;
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::model::{Fields, Group, Task, User};
use taskmaster_shared::redis_pool::{self, RedisPool};
use taskmaster_shared::webhook::Webhook;

use crate::pg::{PgError, PgWorker};

mod handoff;
mod write;

use handoff::still_holds;
pub use handoff::{Holder, clear, take};
use write::{Batch, Chunk, Written, write_stream};

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
    /// Per [`RowType::ALL`]: users, groups, tasks, webhooks.
    pub upserted: [usize; 4],
    pub deleted: [usize; 4],
    pub duration: Duration,
    /// Committed flushes so far (`sync_state.flushes`), this one included.
    pub number: u64,
}

/// What a hand-off took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    /// Ids in flight per type (users, groups, tasks, webhooks).
    pub pending: [u64; 4],
    /// The id counters (`seq:*`) at the hand-off.
    pub last_ids: [u64; 4],
    /// The hand-off's number (`P inflight:handoff`), recorded in
    /// PostgreSQL with the flush (see [`crate::reconcile`]).
    pub handoff: u64,
}

impl FlushReport {
    pub fn rows(&self) -> usize {
        self.upserted.iter().sum::<usize>() + self.deleted.iter().sum::<usize>()
    }
}

/// Chunks queued between the Redis reader and the PostgreSQL writer.
const CHUNKS_IN_FLIGHT: usize = 1;

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

/// Reads the rows of one chunk of in-flight ids in one MULTI/EXEC.
async fn read_chunk(
    redis: &RedisPool,
    keys: &Keys,
    taken: &[Vec<u64>; 4],
) -> Result<Batch, FlushError> {
    let [user_ids, group_ids, task_ids, webhook_ids] = taken;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for id in user_ids {
        pipe.cmd("HGETALL")
            .arg(keys.row(RowType::User, *id))
            .cmd("SMEMBERS")
            .arg(keys.user_groups(*id))
            .cmd("SORT")
            .arg(keys.user_tokens(*id))
            .arg("BY")
            .arg("nosort")
            .arg("GET")
            .arg("#")
            .arg("GET")
            .arg(keys.api_token_pattern());
    }
    for id in group_ids {
        pipe.cmd("HGETALL").arg(keys.row(RowType::Group, *id));
    }
    for id in task_ids {
        pipe.cmd("GET").arg(keys.row(RowType::Task, *id));
    }
    for id in webhook_ids {
        pipe.cmd("HGETALL").arg(keys.row(RowType::Webhook, *id));
    }
    let mut batch = Batch::default();
    if taken.iter().all(Vec::is_empty) {
        return Ok(batch);
    }
    let mut conn = conn(redis).await?;
    let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
    let mut it = replies.into_iter();
    for id in user_ids {
        let (row, groups, tokens) = (
            it.next().unwrap_or(Value::Nil),
            it.next().unwrap_or(Value::Nil),
            it.next().unwrap_or(Value::Nil),
        );
        batch.member_users.push(*id as i64);
        match User::from_fields(&fields(row), ids(groups)) {
            Some(user) => {
                batch.tokens.extend(TokenRecord::listed(tokens, user.id));
                batch.users.push(user);
            }
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
    for id in webhook_ids {
        match Webhook::from_fields(&fields(it.next().unwrap_or(Value::Nil))) {
            Some(hook) => batch.webhooks.push(hook),
            None => batch.deleted_webhooks.push(*id as i64),
        }
    }
    Ok(batch)
}

/// Marks every row dirty, so that the next flush writes everything: for a
/// database that is new or lost its tables while Redis kept its rows.
///
/// Tasks have no set of all ids (see `shared/src/keys/mod.rs`): their ids come
/// from every user's task set, 500 users per `SUNIONSTORE`. The steps need
/// not be one atomic whole: a row written meanwhile marks itself dirty,
/// and a task deleted meanwhile is flushed as a delete.
pub async fn mark_all_dirty(redis: &RedisPool, keys: &Keys) -> Result<u64, FlushError> {
    let mut conn = conn(redis).await?;
    let mut pipe = redis::pipe();
    for t in [RowType::User, RowType::Group, RowType::Webhook] {
        pipe.cmd("SUNIONSTORE")
            .arg(keys.dirty(t))
            .arg(keys.dirty(t))
            .arg(keys.all(t));
    }
    pipe.cmd("SET")
        .arg(keys.dirty_since())
        .arg(taskmaster_shared::time::rfc3339(
            taskmaster_shared::time::now_micros(),
        ))
        .arg("NX")
        .ignore();
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
                let mut taken: [Vec<u64>; 4] = Default::default();
                taken[i] = ids;
                let batch = read_chunk(redis, keys, &taken).await?;
                if chunks.send(Chunk::Rows(Box::new(batch))).await.is_err() {
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
/// it, fenced by `holder`'s token, with `taken`'s id counters and
/// hand-off number; clears nothing.
pub async fn write_taken(
    redis: &RedisPool,
    keys: &Keys,
    pg: &PgWorker,
    holder: Option<&Holder>,
    taken: &Taken,
    chunk_rows: usize,
) -> Result<FlushReport, FlushError> {
    let token = holder.map(|h| h.token);
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let taken = *taken;
    let writer = pg.run(move |client| Ok(write_stream(client, receiver, token, &taken)?));
    let (written, read) = tokio::join!(writer, read_all(redis, keys, chunk_rows, holder, sender));
    match (written?, read) {
        (Written::Committed(report), _) => Ok(report),
        (Written::Fenced, _) => Err(FlushError::Fenced),
        (Written::Abandoned, Err(e)) => Err(e),
        (Written::Abandoned, Ok(())) => Err(FlushError::Postgres(PgError::WorkerGone)),
    }
}
