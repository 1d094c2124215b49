//! Rebuilding Redis from PostgreSQL (the rows still pending are saved to a
//! file first by `crate::discarded` when a restore discards them).
//!
//! A rebuild **replaces**: every data key under the prefix is removed
//! (rows, indexes, dirty and in-flight sets, `meta:owner`, which comes back
//! when the restored owner account still has bootstrap's password), then
//! every row PostgreSQL holds is loaded with its indexes, read in one REPEATABLE READ
//! transaction and streamed in pipelines of a few thousand commands.
//! Counters (`seq:*`) are only ever raised, to the highest id at least, so
//! an id is never handed out twice. Credential and task-list versions
//! start from a fresh epoch (the time of the restore), so no credential an
//! api instance verified, and no task list it keeps, from before the
//! restore is taken for current. It runs while the
//! `maintenance` key is set: the api answers 503 and the write scripts
//! refuse, so nothing else touches the keyspace meanwhile.

use postgres::{Client, IsolationLevel};
use redis::Pipeline;
use taskmaster_shared::api_token::TokenRecord;
use taskmaster_shared::domain::{Email, Role, TaskState};
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::model::Task;
use taskmaster_shared::order;
use taskmaster_shared::redis_pool::{self, RedisPool};
use taskmaster_shared::time::rfc3339;

use crate::fence::Fence;
use crate::pg::{PgError, PgWorker};

/// Raises each counter `KEYS[i]` to at least `ARGV[i]`; never lowers one.
pub(crate) static RAISE_COUNTER: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| {
        redis::Script::new(
            "for i, key in ipairs(KEYS) do \
               local cur = tonumber(redis.call('GET', key) or '0') \
               if tonumber(ARGV[i]) > cur then redis.call('SET', key, ARGV[i]) end \
             end return 0",
        )
    });

/// Commands per pipeline sent to Redis.
pub(crate) const PIPELINE_ROWS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("redis: {0}")]
    Redis(redis::RedisError),
    #[error("this syncd lost its lease during the rebuild; the new holder rebuilds")]
    LeaseLost,
    #[error("timed out waiting for a redis connection")]
    RedisPool,
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error("{0}")]
    Io(String),
}

impl From<redis::RedisError> for RestoreError {
    fn from(e: redis::RedisError) -> Self {
        if crate::fence::lease_lost(&e) {
            RestoreError::LeaseLost
        } else {
            RestoreError::Redis(e)
        }
    }
}

/// What a rebuild loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Loaded {
    pub users: u64,
    pub groups: u64,
    pub memberships: u64,
    pub tasks: u64,
    pub tokens: u64,
    pub webhooks: u64,
    /// Leaves of a group whose tasks had not all moved (see `P leaving`).
    pub unfinished_leaves: u64,
    pub removed_keys: u64,
}

/// True for keys a rebuild replaces; counters, syncd's own keys and the
/// maintenance flag stay. Login sessions go (they are not durable, and a
/// password restored to an older one must not leave sessions opened with
/// a newer one).
pub fn is_data_key(keys: &Keys, key: &str) -> bool {
    let Some(rest) = key.strip_prefix(keys.prefix()) else {
        return false;
    };
    [
        "user:",
        "group:",
        "task:",
        "webhook:",
        "token:",
        "session:",
        "idx:",
        "dirty:",
        "inflight:",
        "job:",
        "jobs:",
    ]
    .iter()
    .any(|p| rest.starts_with(p))
        || matches!(
            rest,
            "users" | "groups" | "tasks" | "webhooks" | "meta:owner" | "tasks:order" | "leaving"
        )
}

async fn conn(redis: &RedisPool) -> Result<redis_pool::Conn, RestoreError> {
    redis_pool::shared(redis)
        .await
        .map_err(|_| RestoreError::RedisPool)
}

/// Removes every data key under the prefix.
async fn clear(redis: &RedisPool, keys: &Keys, fence: Fence<'_>) -> Result<u64, RestoreError> {
    let mut conn = conn(redis).await?;
    let mut cursor = 0u64;
    let mut removed = 0u64;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", keys.prefix()))
            .arg("COUNT")
            .arg(5_000)
            .query_async(&mut conn)
            .await?;
        let doomed: Vec<&String> = found.iter().filter(|k| is_data_key(keys, k)).collect();
        if !doomed.is_empty() {
            removed += doomed.len() as u64;
            // A fenced step's command goes through Lua's `unpack`, whose
            // stack holds under 8,000 values: SCAN's COUNT is only a hint.
            let mut unlink = redis::pipe();
            for chunk in doomed.chunks(1_000) {
                unlink.cmd("UNLINK").arg(chunk);
            }
            fence.run(&mut conn, keys.prefix(), &unlink).await?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// What the PostgreSQL side hands the Redis side.
enum Piece {
    Commands(Pipeline),
    Done { loaded: Loaded, max_ids: [u64; 4] },
}

/// Collects commands and hands them over a pipeline at a time.
struct Batcher<'a> {
    pipe: Pipeline,
    queued: usize,
    out: &'a tokio::sync::mpsc::Sender<Piece>,
}

impl Batcher<'_> {
    /// Notes `n` more commands; sends the pipeline once it is big enough
    /// (or when `force`). False when the receiver is gone (the Redis side
    /// failed) and the reading should stop.
    fn added(&mut self, n: usize, force: bool) -> bool {
        self.queued += n;
        if self.queued == 0 || (!force && self.queued < PIPELINE_ROWS) {
            return true;
        }
        self.queued = 0;
        let pipe = std::mem::replace(&mut self.pipe, redis::pipe());
        self.out.blocking_send(Piece::Commands(pipe)).is_ok()
    }
}

/// Runs `sql` and calls `f` on each row as it streams in; stops early (and
/// answers false) when `f` does.
fn each_row(
    tx: &mut postgres::Transaction<'_>,
    sql: &str,
    mut f: impl FnMut(&postgres::Row) -> bool,
) -> Result<bool, postgres::Error> {
    use postgres::fallible_iterator::FallibleIterator;
    let params: [&(dyn postgres::types::ToSql + Sync); 0] = [];
    let mut rows = tx.query_raw(sql, params)?;
    while let Some(row) = rows.next()? {
        if !f(&row) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads every row (one snapshot) and turns it into Redis commands.
fn produce(
    client: &mut Client,
    keys: &Keys,
    epoch: u64,
    out: &tokio::sync::mpsc::Sender<Piece>,
) -> Result<bool, postgres::Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let mut loaded = Loaded::default();
    let mut max_ids = [0u64; 4];
    let mut b = Batcher {
        pipe: redis::pipe(),
        queued: 0,
        out,
    };

    let going = each_row(
        &mut tx,
        "SELECT id, full_name, email, role, number, password_hash, work_times::text, created_at, updated_at, active
         FROM users ORDER BY id",
        |r| {
            let id = r.get::<_, i64>(0) as u64;
            let email: String = r.get(2);
            let email_key = Email::key_of(&email);
            let work_times: serde_json::Value =
                serde_json::from_str(&r.get::<_, String>(6)).unwrap_or_default();
            let active: bool = r.get(9);
            b.pipe
                .cmd("HSET")
                .arg(keys.row(RowType::User, id))
                .arg("id")
                .arg(id)
                .arg("full_name")
                .arg(r.get::<_, String>(1))
                .arg("email")
                .arg(&email)
                .arg("email_key")
                .arg(&email_key)
                .arg("role")
                .arg(r.get::<_, String>(3))
                .arg("number")
                .arg(r.get::<_, String>(4))
                .arg("pw")
                .arg(r.get::<_, String>(5))
                .arg("work_times")
                .arg(work_times.to_string())
                .arg("tv")
                .arg(epoch)
                .arg("created_at")
                .arg(rfc3339(r.get(7)))
                .arg("updated_at")
                .arg(rfc3339(r.get(8)))
                .arg("active")
                .arg(if active { "1" } else { "0" })
                .ignore();
            // A deactivated user gets no credential version: nothing of it
            // passes until it is reactivated.
            b.pipe
                .cmd("SET")
                .arg(keys.user_cv(id))
                .arg(if active { epoch } else { 0 })
                .ignore();
            b.pipe
                .cmd("HSET")
                .arg(keys.email_index())
                .arg(&email_key)
                .arg(id)
                .ignore();
            b.pipe.cmd("SADD").arg(keys.all(RowType::User)).arg(id).ignore();
            loaded.users += 1;
            max_ids[0] = max_ids[0].max(id);
            b.added(3, false)
        },
    )? && each_row(
        &mut tx,
        "SELECT id, name, admin_id, created_at, updated_at FROM groups ORDER BY id",
        |r| {
            let id = r.get::<_, i64>(0) as u64;
            let name: String = r.get(1);
            let name_key = Email::key_of(&name);
            let admin = r.get::<_, i64>(2) as u64;
            b.pipe
                .cmd("HSET")
                .arg(keys.row(RowType::Group, id))
                .arg("id")
                .arg(id)
                .arg("name")
                .arg(&name)
                .arg("name_key")
                .arg(&name_key)
                .arg("admin_id")
                .arg(admin)
                .arg("created_at")
                .arg(rfc3339(r.get(3)))
                .arg("updated_at")
                .arg(rfc3339(r.get(4)))
                .ignore();
            b.pipe
                .cmd("HSET")
                .arg(keys.group_name_index())
                .arg(&name_key)
                .arg(id)
                .ignore();
            b.pipe.cmd("SADD").arg(keys.all(RowType::Group)).arg(id).ignore();
            b.pipe.cmd("SADD").arg(keys.user_admin_of(admin)).arg(id).ignore();
            loaded.groups += 1;
            max_ids[1] = max_ids[1].max(id);
            b.added(4, false)
        },
    )? && each_row(&mut tx, "SELECT user_id, group_id FROM user_groups", |r| {
        let (user, group) = (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64);
        b.pipe.cmd("SADD").arg(keys.user_groups(user)).arg(group).ignore();
        b.pipe.cmd("SADD").arg(keys.group_members(group)).arg(user).ignore();
        loaded.memberships += 1;
        b.added(2, false)
    })? && each_row(
        &mut tx,
        "SELECT t.id, t.user_id, u.role, t.read_only, t.expires_at, t.secret_hash, t.created_at,
                t.last_used_at, t.name
         FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.user_id, t.id",
        |r| {
            let ms = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis().max(0) as u64;
            let id: String = r.get(0);
            let record = TokenRecord {
                user: r.get::<_, i64>(1) as u64,
                role: Role::parse(r.get(2)).unwrap_or(Role::User),
                read_only: r.get(3),
                expires_ms: r.get::<_, Option<chrono::DateTime<chrono::Utc>>>(4).map(ms),
                digest: r.get(5),
                created_ms: ms(r.get(6)),
                last_used_ms: r.get::<_, Option<chrono::DateTime<chrono::Utc>>>(7).map(ms),
                name: r.get(8),
            };
            b.pipe.cmd("SET").arg(keys.api_token(&id)).arg(record.to_record()).ignore();
            b.pipe.cmd("SADD").arg(keys.user_tokens(record.user)).arg(&id).ignore();
            loaded.tokens += 1;
            b.added(2, false)
        },
    )? && each_row(
        &mut tx,
        "SELECT id, title, priority, deadline, information, user_id, group_id, created_at, updated_at,
                state, created_by, labels, completed_at
         FROM tasks ORDER BY id",
        |r| {
            let state = TaskState::parse("state", r.get(9)).unwrap_or(TaskState::Todo);
            let task = Task {
                id: r.get::<_, i64>(0) as u64,
                title: r.get(1),
                status: state.is_done(),
                priority: u8::try_from(r.get::<_, i16>(2)).unwrap_or(2),
                deadline: r
                    .get::<_, Option<chrono::NaiveDate>>(3)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                information: r.get(4),
                user_id: r.get::<_, i64>(5) as u64,
                group_id: r.get::<_, i64>(6) as u64,
                created_at: rfc3339(r.get(7)),
                updated_at: rfc3339(r.get(8)),
                state,
                created_by: r.get::<_, Option<i64>>(10).map(|id| id as u64),
                labels: r.get(11),
                completed_at: r
                    .get::<_, Option<chrono::DateTime<chrono::Utc>>>(12)
                    .map(rfc3339),
            };
            let json = serde_json::to_string(&task).unwrap_or_default();
            b.pipe.cmd("SET").arg(keys.row(RowType::Task, task.id)).arg(json).ignore();
            b.pipe.cmd("SADD").arg(keys.user_tasks(task.user_id)).arg(task.id).ignore();
            b.pipe.cmd("SADD").arg(keys.group_tasks(task.group_id)).arg(task.id).ignore();
            // No order index: a user's or a group's is built when its list
            // is first read in that order (see `taskmaster_shared::order`).
            // The group's label index, as the write scripts keep it.
            for label in &task.labels {
                b.pipe
                    .cmd("SADD")
                    .arg(keys.group_label(task.group_id, label))
                    .arg(task.id)
                    .ignore();
                b.pipe
                    .cmd("HINCRBY")
                    .arg(keys.group_labels(task.group_id))
                    .arg(label)
                    .arg(1)
                    .ignore();
            }
            loaded.tasks += 1;
            max_ids[2] = max_ids[2].max(task.id);
            b.added(7 + 2 * task.labels.len(), false)
        },
    )? && each_row(
        &mut tx,
        // A member's removal moves its tasks out of the group in steps
        // after the membership went (see `P leaving`): a flush between
        // them leaves tasks outside their user's groups, and the leave is
        // recorded again, for the api to finish.
        "SELECT DISTINCT t.user_id, t.group_id FROM tasks t
         WHERE NOT EXISTS (SELECT 1 FROM user_groups m
                           WHERE m.user_id = t.user_id AND m.group_id = t.group_id)",
        |r| {
            let (user, group) = (r.get::<_, i64>(0), r.get::<_, i64>(1));
            b.pipe
                .cmd("HSET")
                .arg(keys.leaving())
                .arg(format!("{user}:{group}"))
                .arg("u 0 0")
                .ignore();
            loaded.unfinished_leaves += 1;
            b.added(1, false)
        },
    )? && each_row(
        &mut tx,
        "SELECT id, group_id, url, array_to_string(events, ','), secret, active, created_by,
                created_at, updated_at
         FROM webhooks ORDER BY id",
        |r| {
            let id = r.get::<_, i64>(0) as u64;
            let group = r.get::<_, Option<i64>>(1).map(|g| g as u64);
            let created_by = r.get::<_, Option<i64>>(6).map(|u| u.to_string());
            let at = |i: usize| rfc3339(r.get::<_, chrono::DateTime<chrono::Utc>>(i));
            b.pipe
                .cmd("HSET")
                .arg(keys.row(RowType::Webhook, id))
                .arg(&[
                    ("id", id.to_string()),
                    ("group", group.map(|g| g.to_string()).unwrap_or_default()),
                    ("url", r.get(2)),
                    ("events", r.get(3)),
                    ("secret", r.get(4)),
                    ("active", if r.get(5) { "1" } else { "0" }.to_owned()),
                    ("created_by", created_by.unwrap_or_default()),
                    ("created_at", at(7)),
                    ("updated_at", at(8)),
                ])
                .ignore();
            b.pipe.cmd("SADD").arg(keys.all(RowType::Webhook)).arg(id).ignore();
            if let Some(g) = group {
                b.pipe.cmd("SADD").arg(keys.group_webhooks(g)).arg(id).ignore();
            }
            loaded.webhooks += 1;
            max_ids[3] = max_ids[3].max(id);
            b.added(3, false)
        },
    )? && b.added(0, true);
    if !going {
        return Ok(false);
    }
    // Ids handed out and deleted above the highest row count too, so that
    // no id is handed out twice (sync_state: see the V3 migration).
    if let Some(recorded) = tx.query_opt(
        "SELECT last_user_id, last_group_id, last_task_id, last_webhook_id FROM sync_state WHERE id = 1",
        &[],
    )? {
        for (i, max) in max_ids.iter_mut().enumerate() {
            *max = (*max).max(recorded.get::<_, i64>(i).max(0) as u64);
        }
    }
    tx.commit()?;
    Ok(out.blocking_send(Piece::Done { loaded, max_ids }).is_ok())
}

/// Starts [`produce`] on the PostgreSQL thread, with a fresh credential
/// epoch (the time in microseconds); its pieces arrive on the receiver, two
/// at most in flight. Await the future alongside the receiving loop.
fn start_producer(
    keys: &Keys,
    pg: &PgWorker,
) -> (
    impl std::future::Future<Output = Result<bool, PgError>>,
    tokio::sync::mpsc::Receiver<Piece>,
) {
    let epoch = taskmaster_shared::time::now_micros()
        .timestamp_micros()
        .max(1) as u64;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Piece>(2);
    let keys = keys.clone();
    let producer = pg.run(move |client| Ok(produce(client, &keys, epoch, &sender)?));
    (producer, receiver)
}

/// Replaces what Redis holds with what PostgreSQL holds. Every step of
/// it is fenced: once the lease is not `fence`'s any more, it stops
/// ([`RestoreError::LeaseLost`]) without another write.
pub async fn rebuild(
    redis: &RedisPool,
    keys: &Keys,
    pg: &PgWorker,
    fence: Fence<'_>,
) -> Result<Loaded, RestoreError> {
    let owner = owner_bootstrap(redis, keys).await?;
    let removed = clear(redis, keys, fence).await?;
    let (producer, mut receiver) = start_producer(keys, pg);
    // The receiver goes with the consumer: when a step fails (the lease
    // lost, Redis gone), the reader's next send fails and it stops, rather
    // than wait for ever on a full channel.
    let consumer = async move {
        let mut conn = conn(redis).await?;
        let mut done = None;
        while let Some(piece) = receiver.recv().await {
            match piece {
                Piece::Commands(pipe) => fence.run(&mut conn, keys.prefix(), &pipe).await?,
                Piece::Done { loaded, max_ids } => done = Some((loaded, max_ids)),
            }
        }
        Ok::<_, RestoreError>(done)
    };
    let (produced, consumed) = tokio::join!(producer, consumer);
    let done = consumed?;
    produced?;
    let Some((mut loaded, max_ids)) = done else {
        return Err(RestoreError::Io(
            "the PostgreSQL reader stopped early".to_owned(),
        ));
    };
    // Counters only ever go up: to the highest id at least. What follows
    // changes nothing a new holder's rebuild would not set again, but the
    // change log's reset: it runs only after the last fenced check.
    let mut conn = conn(redis).await?;
    fence.check(&mut conn, keys.prefix()).await?;
    let mut raise = RAISE_COUNTER.prepare_invoke();
    for (t, max) in RowType::ALL.into_iter().zip(max_ids) {
        raise.key(keys.sequence(t)).arg(max);
    }
    raise.invoke_async::<i64>(&mut conn).await?;
    // The order indexes are of the current layout (there are none yet).
    redis::cmd("SET")
        .arg(keys.order_built())
        .arg(order::LAYOUT)
        .query_async::<()>(&mut conn)
        .await?;
    // Which account bootstrap made, and the password it gave it, stay
    // known when the restored account is that very one with that very
    // password (a hash's salt makes equal text the same credential): a
    // later change of OWNER_PASSWORD then replaces it, as before the
    // restore. Otherwise the api's next start adopts the account holding
    // OWNER_EMAIL.
    if let Some((id, pw)) = owner {
        let keep = redis::Script::new(
            "if redis.call('HGET', KEYS[2], 'pw') == ARGV[2] then \
               redis.call('HSET', KEYS[1], 'id', ARGV[1], 'pw', ARGV[2]) end return 0",
        );
        keep.key(keys.owner_bootstrap())
            .key(keys.row(RowType::User, id))
            .arg(id)
            .arg(pw)
            .invoke_async::<i64>(&mut conn)
            .await?;
    }
    // Clients read everything again: positions from before answer 410,
    // and live readers get the reset entry.
    crate::changes::reset(redis, keys)
        .await
        .map_err(|e| RestoreError::Io(format!("cannot reset the change log: {e}")))?;
    loaded.removed_keys = removed;
    Ok(loaded)
}

/// `meta:owner` before a rebuild clears it: the owner's id and the hash
/// bootstrap gave it, when both are known.
async fn owner_bootstrap(
    redis: &RedisPool,
    keys: &Keys,
) -> Result<Option<(u64, String)>, RestoreError> {
    let mut conn = conn(redis).await?;
    let (id, pw): (Option<u64>, Option<String>) = redis::cmd("HMGET")
        .arg(keys.owner_bootstrap())
        .arg("id")
        .arg("pw")
        .query_async(&mut conn)
        .await?;
    Ok(id.zip(pw.filter(|p| !p.is_empty())))
}

/// The commands a rebuild would send after clearing, as packed RESP, handed
/// to `sink` pipeline by pipeline (the restore benchmark replays them with
/// `redis-cli --pipe` as its ceiling).
pub async fn packed_commands(
    keys: &Keys,
    pg: &PgWorker,
    mut sink: impl FnMut(Vec<u8>),
) -> Result<Loaded, RestoreError> {
    let (producer, mut receiver) = start_producer(keys, pg);
    let consumer = async {
        let mut loaded = None;
        while let Some(piece) = receiver.recv().await {
            match piece {
                Piece::Commands(pipe) => sink(pipe.get_packed_pipeline()),
                Piece::Done { loaded: l, .. } => loaded = Some(l),
            }
        }
        loaded
    };
    let (produced, loaded) = tokio::join!(producer, consumer);
    produced?;
    loaded.ok_or_else(|| RestoreError::Io("the PostgreSQL reader stopped early".to_owned()))
}
