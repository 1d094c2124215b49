//! Redis access: the one module of the api that names a Redis command.
//!
//! Handlers call one typed method per script or read: arguments are ids
//! ([`UserId`], [`GroupId`], [`TaskId`]) and parsed domain values, answers
//! are rows or small typed results, and a rule that refused a write is a
//! [`Refusal`]. Nothing outside this module builds a command, orders a
//! script's arguments or reads a `redis::Value`.
//!
//! * [`scripts`]: the Lua scripts (`lua/*.lua`, each prefixed with
//!   `lua/common.lua`). Each write endpoint is one script, so the row, its
//!   indexes, the dirty set and the notification change in one atomic
//!   step, and the checks a write depends on are made in that same step.
//! * [`refusal`]: a script's `{'ERR', code, detail}` decoded once.
//! * [`reads`], [`pages`], [`task_scan`], [`writes`], [`task_writes`], [`labels`], [`user_writes`], [`auth`], [`sessions`], [`tokens`], [`limits`], [`ops`], [`audit`], [`webhooks`], [`jobs`]:
//!   the methods, by purpose.
//!
//! Key names come from `taskmaster_shared::keys` (the scripts build the same
//! names from the prefix).

mod audit;
mod auth;
mod changes;
mod jobs;
mod labels;
mod leaving;
mod limits;
mod meter;
mod ops;
mod pages;
mod reads;
pub mod refusal;
mod scripts;
mod sessions;
mod task_scan;
mod task_writes;
mod tokens;
mod user_writes;
mod value;
mod webhooks;
mod writes;

use std::sync::Arc;

use redis::{ScriptInvocation, Value};
use taskmaster_shared::config::{RedisConfig, Secret};
use taskmaster_shared::domain::{GroupId, UserId};
use taskmaster_shared::keys::Keys;
use taskmaster_shared::redis_pool::{self, Dials, RedisPool, RunError};

pub use audit::AuditTail;
pub use auth::{AuthRecord, ListHead, ListHeadInfo, Nothing, Prefetch, TaskRow};
pub use changes::{ChangesPage, ChangesReader, RawEntry, Standing};
pub use jobs::{JobOp, JobOpen, JobRecord, Opened};
pub use limits::Counter;
pub use meter::{Meter, Metered, Principal};
pub use ops::{BootstrapOutcome, BootstrapState, SyncCounts};
pub use pages::{OrderScope, PageChunk, PageRead, ReadMode};
pub use reads::{GroupDetail, sorted_tasks};
pub use refusal::{Refusal, TaskRefusal};
pub use sessions::{
    MAX_SESSIONS_PER_USER, NewSession, Rotated, Rotation, SessionRead, TokenRecordKey,
};
pub use task_scan::{SCAN_CHUNK, StoredRow, TaskIds};
pub use task_writes::{NewCreate, NewTaskRow, TaskAction, TaskChangeSet};
pub use tokens::MAX_TOKENS_PER_USER;
pub use user_writes::{NewUser, UserChanges};
pub use webhooks::{HookScope, MAX_WEBHOOKS, MAX_WEBHOOKS_PER_GROUP, WebhookFields};
pub use writes::{Actor, DeletedGroup};

/// What can go wrong talking to Redis.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("timed out waiting for a redis connection")]
    PoolTimeout,
    #[error("unexpected reply from redis: {0}")]
    Malformed(&'static str),
    /// A write script refused: the `maintenance` key is set (a restore).
    #[error("maintenance in progress")]
    Maintenance,
    /// A write refused: Redis restarted, and syncd has not yet checked it
    /// against PostgreSQL (see `closed()` in `lua/common.lua`).
    #[error("the id counters wait for syncd's check after a Redis restart")]
    IdsUnchecked,
    /// A page of a task list refused: its index in that order is being
    /// built in the background (a large list's first read in an order;
    /// see `pages`).
    #[error("the order index is being built")]
    OrderBuilding,
    /// A page of a task list in an order its list was never read in: the
    /// index of that order is not built yet (`pages` builds it and reads
    /// again; it never leaves the store).
    #[error("the sort index is being built")]
    SortBuilding,
}

impl From<RunError<redis::RedisError>> for StoreError {
    fn from(e: RunError<redis::RedisError>) -> Self {
        match e {
            RunError::User(e) => StoreError::Redis(e),
            RunError::TimedOut => StoreError::PoolTimeout,
        }
    }
}

/// A write's result: done (with what the script answered), or refused by
/// a rule with nothing changed.
pub type Written<T> = Result<T, Refusal>;

/// Where the ids of a row listing come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Ids(&'a [u64]),
    AllUsers,
    AllGroups,
    GroupMembers(GroupId),
    GroupTasks(GroupId),
    UserTasks(UserId),
    /// A caller and every member of the groups the caller administers.
    VisibleUsers(UserId),
}

/// Handle to the store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: RedisPool,
    /// The pool's dials so far (see [`Store::dials`]).
    dials: Dials,
    keys: Arc<Keys>,
    /// For subscriptions (the control channel's answers) and for telling
    /// where Redis is; built once.
    client: redis::Client,
    /// Signs control requests (`CONTROL_SECRET`).
    control_secret: Secret,
    /// The task quotas the write scripts hold to.
    quotas: Quotas,
    /// The sort indexes this process finishes building in the background
    /// (see `pages`), so that it builds each once.
    building: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// The most tasks a user and a group may hold (0: no limit), checked in
/// the scripts that add tasks to either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    pub per_user: u64,
    pub per_group: u64,
}

impl Store {
    /// The store of `config`: a pool (which dials lazily, so Redis may be
    /// down) and the key layout of its prefix.
    pub fn new(config: &RedisConfig) -> Result<Self, redis::RedisError> {
        Self::measured(config, metrics::Histogram::noop())
    }

    /// [`Store::new`], recording every Redis round trip's time in `latency`.
    pub fn measured(
        config: &RedisConfig,
        latency: metrics::Histogram,
    ) -> Result<Self, redis::RedisError> {
        let dials = Dials::default();
        Ok(Store {
            pool: redis_pool::build_counted(config, latency, dials.clone())?,
            dials,
            keys: Arc::new(Keys::new(config.key_prefix.clone())),
            client: redis_pool::client(config)?,
            control_secret: config.control_secret.clone(),
            quotas: Quotas::default(),
            building: Arc::default(),
        })
    }

    /// How many connections this store's pool has dialed. A reply read
    /// while it stayed the same came from a Redis server the pool knew
    /// before (a restarted one is reached only through a new dial): what is
    /// kept in memory under a version read from Redis is matched only
    /// within one such count (`crate::lists`).
    pub fn dials(&self) -> u64 {
        self.dials.now()
    }

    /// This store, holding writes to `quotas`.
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Runs a script and returns its raw reply.
    async fn eval(&self, inv: &ScriptInvocation<'_>) -> Result<Value, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(inv.invoke_async(&mut conn).await?)
    }

    /// Runs a write script: `Ok(values after 'OK')` or the refusal.
    async fn write(&self, inv: &ScriptInvocation<'_>) -> Result<Written<Vec<Value>>, StoreError> {
        refusal::outcome(self.eval(inv).await?)
    }

    /// Runs one command; its reply converted to `T`.
    async fn query_one<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// Runs a pipeline; its replies converted to `T`.
    async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(pipe.query_async(&mut conn).await?)
    }
}

/// A list of ids from a reply, sorted.
fn ids(v: Value) -> Vec<u64> {
    let mut out: Vec<u64> = value::array(v)
        .unwrap_or_default()
        .iter()
        .filter_map(value::u64_of)
        .collect();
    out.sort_unstable();
    out
}

/// Whether a stored row looks like a JSON object. Rows are written by our
/// scripts only; the check keeps a damaged value from breaking an answer
/// it would be spliced into.
pub fn is_object_text(raw: &[u8]) -> bool {
    raw.first() == Some(&b'{') && raw.last() == Some(&b'}')
}

/// The stored task JSON among replies of GET, MGET or `SORT … GET`;
/// missing and damaged ones are skipped.
fn task_json(rows: Vec<Value>) -> Vec<Vec<u8>> {
    rows.into_iter()
        .filter_map(|v| match v {
            Value::BulkString(raw) if is_object_text(&raw) => Some(raw),
            _ => None,
        })
        .collect()
}
