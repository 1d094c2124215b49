//! taskmaster-syncd: the write-behind daemon.
//!
//! The api writes only to Redis and marks each changed row dirty
//! (`taskmaster_shared::keys`). syncd is the only process that talks to
//! PostgreSQL: it applies the schema migrations at start, then writes the
//! dirty rows behind on a schedule (`SYNC_INTERVAL`) and at shutdown
//! ([`flush`]). Control requests arrive with the next issue.
//!
//! Everything that makes syncd act arrives as a [`Control`] value (the
//! schedule, signals, and later notifications and control requests) and is
//! applied by one loop, so no two flushes ever overlap inside a process.
//!
//! Run it with `cargo run -p taskmaster-syncd`; it exits 0 after SIGTERM or
//! SIGINT.

pub mod flush;
pub mod migrations;
pub mod pg;

use std::future::Future;
use std::time::Duration;

use taskmaster_shared::config::SyncdConfig;
use taskmaster_shared::control::{
    ControlReply, ControlRequest, Counts, HEARTBEAT_SECS, LEASE_TTL_MS, STATUS_TTL_SECS,
    SyncdStatus,
};
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::redis_pool::{self, RedisPool};
use tokio::sync::mpsc;

pub use flush::{FlushError, FlushReport};
pub use pg::{PgError, PgWorker};

/// First wait before retrying a failed flush; doubles up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_millis(500);
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// Why syncd stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SyncdError {
    #[error("invalid Redis configuration: {0}")]
    RedisConfig(#[from] redis::RedisError),
    #[error(transparent)]
    Postgres(#[from] PgError),
}

/// Everything that makes the daemon act, applied in one loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// The schedule (or a retry) says it is time to flush.
    Tick,
    /// A write was announced on the events channel.
    Wake,
    /// Time to refresh the status record.
    Heartbeat,
    /// A request from the control channel; answered exactly once.
    Request(ControlRequest),
    /// SIGTERM or SIGINT: finish, flush once more, exit.
    Shutdown,
}

/// The daemon's connections.
pub struct Syncd {
    pub config: SyncdConfig,
    pub redis: RedisPool,
    pub keys: Keys,
    pub pg: PgWorker,
}

impl Syncd {
    /// Prepares the connections; nothing is dialed yet.
    pub fn new(config: SyncdConfig) -> Result<Self, SyncdError> {
        let redis = redis_pool::build(&config.redis)?;
        let keys = Keys::new(config.redis.key_prefix.clone());
        let pg = PgWorker::start(&config.postgres)?;
        Ok(Syncd {
            config,
            redis,
            keys,
            pg,
        })
    }

    /// Applies the migrations once; returns the names of those applied.
    pub async fn migrate(&self) -> Result<Vec<String>, PgError> {
        self.pg.run(|client| Ok(migrations::migrate(client)?)).await
    }

    /// One write-behind step (see [`flush`]).
    pub async fn flush_once(&self) -> Result<FlushReport, FlushError> {
        flush::flush_once(
            &self.redis,
            &self.keys,
            &self.pg,
            None,
            self.config.sync_chunk_rows,
        )
        .await
    }
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(
    config: SyncdConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SyncdError> {
    let (control, mut inbox) = mpsc::channel::<Control>(64);
    let signals = control.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = signals.send(Control::Shutdown).await;
    });

    tracing::info!(
        redis = %config.redis.display_addr(),
        postgres = %config.postgres.display_addr(),
        interval = %taskmaster_shared::duration::format_go(config.sync_interval),
        "taskmaster-syncd starting"
    );
    let syncd = Syncd::new(config)?;
    // Only a log line: never hold up start (or a shutdown) for it.
    tokio::spawn(check_redis(syncd.redis.clone()));

    // PostgreSQL may still be starting (or down): retry the migrations with
    // capped backoff, but stay responsive to a shutdown request.
    let mut backoff = Duration::from_millis(500);
    loop {
        tokio::select! {
            result = syncd.migrate() => match result {
                Ok(applied) => {
                    tracing::info!(applied = ?applied, "schema is up to date");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot apply migrations");
                }
            },
            Some(Control::Shutdown) = inbox.recv() => {
                tracing::info!("stopped before the schema was ready");
                return Ok(());
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            Some(Control::Shutdown) = inbox.recv() => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }

    let mut daemon = Daemon::new(syncd, control.clone());
    daemon.refresh_postgres_rows().await;
    daemon.spawn_sources();
    daemon.heartbeat().await;

    // A failed flush is retried with capped exponential backoff instead of
    // waiting a whole interval; nothing was cleared, so nothing is lost.
    while let Some(event) = inbox.recv().await {
        match event {
            Control::Tick => daemon.flush_or_retry().await,
            Control::Wake => daemon.on_wake().await,
            Control::Heartbeat => daemon.heartbeat().await,
            Control::Request(request) => daemon.answer(request).await,
            Control::Shutdown => break,
        }
    }
    let grace = daemon.syncd.config.shutdown_grace;
    if daemon.token.is_some() && tokio::time::timeout(grace, daemon.flush()).await.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "final flush did not finish within the grace period"
        );
    }
    daemon.clear_status().await;
    daemon.release_lease().await;
    tracing::info!("taskmaster-syncd stopped");
    Ok(())
}

/// The running daemon: the connections plus what the status reports.
struct Daemon {
    syncd: Syncd,
    control: mpsc::Sender<Control>,
    instance: String,
    last_sync: Option<String>,
    last_result: Option<&'static str>,
    last_error: Option<String>,
    last_rows: u64,
    last_rows_per_sec: f64,
    postgres_rows: Option<Counts>,
    postgres_ok: bool,
    backoff: Duration,
    retry: Option<tokio::task::JoinHandle<()>>,
    last_wake_check: tokio::time::Instant,
    /// The fencing token while this instance holds the lease; `None` on
    /// standby (no flushing, no answers, no status).
    token: Option<u64>,
}

impl Daemon {
    fn new(syncd: Syncd, control: mpsc::Sender<Control>) -> Self {
        Daemon {
            syncd,
            control,
            instance: format!(
                "{}-{}",
                std::process::id(),
                taskmaster_shared::time::now_micros().timestamp_micros()
            ),
            last_sync: None,
            last_result: None,
            last_error: None,
            last_rows: 0,
            last_rows_per_sec: 0.0,
            postgres_rows: None,
            postgres_ok: false,
            backoff: RETRY_FIRST,
            retry: None,
            last_wake_check: tokio::time::Instant::now(),
            token: None,
        }
    }

    /// Takes or renews the lease; logs changes of role.
    async fn renew_lease(&mut self) {
        static SCRIPT: std::sync::LazyLock<redis::Script> =
            std::sync::LazyLock::new(|| redis::Script::new(include_str!("lua/lease.lua")));
        let Ok(mut conn) = redis_pool::shared(&self.syncd.redis).await else {
            return;
        };
        let token: Result<u64, _> = SCRIPT
            .arg(self.syncd.keys.prefix())
            .arg(&self.instance)
            .arg(LEASE_TTL_MS)
            .invoke_async(&mut conn)
            .await;
        match (self.token, token) {
            (None, Ok(t)) if t > 0 => {
                tracing::info!(sync.token = t, "this syncd is now the active one");
                self.token = Some(t);
            }
            (Some(_), Ok(0)) => {
                tracing::warn!("lost the lease to another syncd; standing by");
                self.token = None;
            }
            (_, Ok(t)) if t > 0 => self.token = Some(t),
            (_, Ok(_)) => {}
            // Redis unreachable: keep the role; the lease's TTL decides.
            (_, Err(e)) => tracing::warn!(error = %e, "cannot renew the lease"),
        }
    }

    /// Gives the lease up at shutdown, so a standby takes over at once.
    async fn release_lease(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        let Ok(mut conn) = redis_pool::shared(&self.syncd.redis).await else {
            return;
        };
        let ours = format!("{}|{token}", self.instance);
        let _: Result<i64, _> = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        )
        .key(self.syncd.keys.syncd_lease())
        .arg(ours)
        .invoke_async(&mut conn)
        .await;
    }

    /// The schedule, the heartbeat and the Redis listener, all feeding the
    /// one loop.
    fn spawn_sources(&self) {
        let interval = self.syncd.config.sync_interval;
        let ticks = self.control.clone();
        tokio::spawn(async move {
            let mut timer =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                if ticks.send(Control::Tick).await.is_err() {
                    break;
                }
            }
        });
        let beats = self.control.clone();
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECS));
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                if beats.send(Control::Heartbeat).await.is_err() {
                    break;
                }
            }
        });
        if let Ok(client) = redis_pool::client(&self.syncd.config.redis) {
            tokio::spawn(listen(
                client,
                self.syncd.keys.clone(),
                self.control.clone(),
            ));
        }
    }

    /// Flushes and records the outcome; returns the report or the error.
    /// Only the lease holder flushes.
    async fn flush(&mut self) -> Result<FlushReport, String> {
        let Some(token) = self.token else {
            return Err("standing by: another syncd is active".to_owned());
        };
        match flush::flush_once(
            &self.syncd.redis,
            &self.syncd.keys,
            &self.syncd.pg,
            Some(token),
            self.syncd.config.sync_chunk_rows,
        )
        .await
        {
            Ok(report) => {
                self.last_sync = Some(taskmaster_shared::time::rfc3339(
                    taskmaster_shared::time::now_micros(),
                ));
                self.last_result = Some("ok");
                self.last_error = None;
                self.postgres_ok = true;
                if report.rows() > 0 {
                    let secs = report.duration.as_secs_f64().max(1e-6);
                    self.last_rows = report.rows() as u64;
                    self.last_rows_per_sec = report.rows() as f64 / secs;
                    tracing::info!(
                        sync.upserted = ?report.upserted,
                        sync.deleted = ?report.deleted,
                        sync.duration_ms = report.duration.as_millis() as u64,
                        "flushed"
                    );
                    self.refresh_postgres_rows().await;
                }
                Ok(report)
            }
            Err(FlushError::Fenced) => {
                tracing::warn!("a newer syncd has flushed; this one stands by");
                self.token = None;
                Err(FlushError::Fenced.to_string())
            }
            Err(e) => {
                tracing::warn!(error = %e, "flush failed; the rows stay pending");
                if e.is_missing_schema() {
                    match self.syncd.migrate().await {
                        Ok(applied) => {
                            tracing::info!(applied = ?applied, "schema was missing; migrations applied again")
                        }
                        Err(me) => {
                            tracing::warn!(error = %me, "schema is missing and migrations failed")
                        }
                    }
                }
                self.last_result = Some("error");
                self.last_error = Some(e.to_string());
                if matches!(e, FlushError::Postgres(_)) {
                    self.postgres_ok = false;
                }
                Err(e.to_string())
            }
        }
    }

    async fn flush_or_retry(&mut self) {
        if self.token.is_none() {
            return;
        }
        if self.flush().await.is_ok() {
            self.backoff = RETRY_FIRST;
            return;
        }
        if let Some(pending) = self.retry.take() {
            pending.abort();
        }
        let retry_tx = self.control.clone();
        let wait = self.backoff;
        self.retry = Some(tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = retry_tx.send(Control::Tick).await;
        }));
        tracing::info!(
            retry_in_ms = wait.as_millis() as u64,
            "flush will be retried"
        );
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
    }

    /// A write happened: flush early once the backlog passes
    /// `SYNC_MAX_PENDING` (checked at most every 200 ms).
    async fn on_wake(&mut self) {
        if self.token.is_none() || self.last_wake_check.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last_wake_check = tokio::time::Instant::now();
        if let Ok(pending) = self.pending().await
            && pending.total() >= self.syncd.config.sync_max_pending
        {
            tracing::info!(
                pending = pending.total(),
                "backlog over SYNC_MAX_PENDING: flushing early"
            );
            self.flush_or_retry().await;
        }
    }

    async fn pending(&self) -> Result<Counts, redis::RedisError> {
        let keys = &self.syncd.keys;
        let mut conn = redis_pool::shared(&self.syncd.redis).await.map_err(|_| {
            redis::RedisError::from((redis::ErrorKind::Io, "timed out waiting for a connection"))
        })?;
        let mut pipe = redis::pipe();
        for t in RowType::ALL {
            pipe.scard(keys.dirty(t)).scard(keys.inflight(t));
        }
        let n: Vec<u64> = pipe.query_async(&mut conn).await?;
        Ok(Counts {
            users: n[0] + n[1],
            groups: n[2] + n[3],
            tasks: n[4] + n[5],
        })
    }

    async fn refresh_postgres_rows(&mut self) {
        let counted = self
            .syncd
            .pg
            .run(|client| {
                let row = client.query_one(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups), (SELECT count(*) FROM tasks)",
                    &[],
                )?;
                Ok(Counts { users: row.get::<_, i64>(0) as u64, groups: row.get::<_, i64>(1) as u64, tasks: row.get::<_, i64>(2) as u64 })
            })
            .await;
        match counted {
            Ok(c) => {
                self.postgres_rows = Some(c);
                self.postgres_ok = true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot count PostgreSQL rows");
                self.postgres_ok = false;
            }
        }
    }

    fn status(&self, pending: Counts, redis_ok: bool) -> SyncdStatus {
        let interval = self.syncd.config.sync_interval;
        SyncdStatus {
            instance: self.instance.clone(),
            pid: std::process::id(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default(),
            interval: taskmaster_shared::duration::format_go(interval),
            interval_secs: interval.as_secs(),
            last_sync: self.last_sync.clone(),
            last_result: self.last_result.map(str::to_owned),
            last_error: self.last_error.clone(),
            last_rows: self.last_rows,
            last_rows_per_sec: self.last_rows_per_sec,
            pending,
            postgres_rows: self.postgres_rows,
            postgres_status: if self.postgres_ok {
                "connected"
            } else {
                "error"
            }
            .to_owned(),
            redis_status: if redis_ok { "connected" } else { "error" }.to_owned(),
            heartbeat_at: taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros()),
        }
    }

    /// Renews the lease and, when active, writes the status record (with
    /// its TTL).
    async fn heartbeat(&mut self) {
        self.renew_lease().await;
        if self.token.is_none() {
            return;
        }
        if !self.postgres_ok || self.postgres_rows.is_none() {
            self.refresh_postgres_rows().await;
        }
        let (pending, redis_ok) = match self.pending().await {
            Ok(p) => (p, true),
            Err(_) => (Counts::default(), false),
        };
        let status = self.status(pending, redis_ok);
        let Ok(json) = serde_json::to_string(&status) else {
            return;
        };
        if let Ok(mut conn) = redis_pool::shared(&self.syncd.redis).await {
            let _: Result<(), _> = redis::cmd("SET")
                .arg(self.syncd.keys.syncd_status())
                .arg(json)
                .arg("EX")
                .arg(STATUS_TTL_SECS)
                .query_async(&mut conn)
                .await;
        }
    }

    async fn clear_status(&self) {
        if self.token.is_none() {
            return;
        }
        if let Ok(mut conn) = redis_pool::shared(&self.syncd.redis).await {
            let _: Result<(), _> = redis::cmd("DEL")
                .arg(self.syncd.keys.syncd_status())
                .query_async(&mut conn)
                .await;
        }
    }

    /// Answers one control request, exactly once (the standby stays silent:
    /// the active syncd answers).
    async fn answer(&mut self, request: ControlRequest) {
        if self.token.is_none() {
            return;
        }
        let mut reply = ControlReply {
            id: request.id.clone(),
            ok: false,
            result: serde_json::Value::Null,
            error: None,
            unsupported: false,
        };
        match request.action.as_str() {
            "force" => match self.flush().await {
                Ok(report) => {
                    reply.ok = true;
                    reply.result = serde_json::json!({
                        "upserted": {"users": report.upserted[0], "groups": report.upserted[1], "tasks": report.upserted[2]},
                        "deleted": {"users": report.deleted[0], "groups": report.deleted[1], "tasks": report.deleted[2]},
                        "rows": report.rows(),
                        "duration_ms": report.duration.as_millis() as u64,
                    });
                }
                Err(e) => reply.error = Some(format!("flush failed: {e}")),
            },
            "status" => {
                let pending = self.pending().await.unwrap_or_default();
                reply.ok = true;
                reply.result = serde_json::to_value(self.status(pending, true)).unwrap_or_default();
            }
            "backup" | "restore" => {
                reply.unsupported = true;
                reply.error = Some(format!("{} is not supported yet", request.action));
            }
            other => reply.error = Some(format!("unknown action `{other}`")),
        }
        self.heartbeat().await;
        let Ok(json) = serde_json::to_string(&reply) else {
            return;
        };
        if let Ok(mut conn) = redis_pool::shared(&self.syncd.redis).await {
            let _: Result<(), _> = redis::cmd("PUBLISH")
                .arg(&request.reply_to)
                .arg(json)
                .query_async(&mut conn)
                .await;
        }
    }
}

/// Subscribes to the control and events channels and feeds the loop;
/// reconnects after a Redis failure.
async fn listen(client: redis::Client, keys: Keys, control: mpsc::Sender<Control>) {
    use futures_util::StreamExt;
    let control_channel = keys.control_channel();
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                let subscribed = pubsub.subscribe(&control_channel).await.is_ok()
                    && pubsub.subscribe(keys.events_channel()).await.is_ok();
                if subscribed {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let event = if message.get_channel_name() == control_channel {
                            let payload: String = message.get_payload().unwrap_or_default();
                            match serde_json::from_str::<ControlRequest>(&payload) {
                                Ok(request) => Control::Request(request),
                                Err(e) => {
                                    tracing::warn!(error = %e, "malformed control request ignored");
                                    continue;
                                }
                            }
                        } else {
                            // Only a wake-up: the dirty sets are the truth, so
                            // a dropped one costs nothing.
                            let _ = control.try_send(Control::Wake);
                            continue;
                        };
                        if control.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                tracing::warn!("lost the Redis subscription; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn check_redis(redis: RedisPool) {
    let result = async {
        let mut conn = redis.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<()>(&mut *conn)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(()) => tracing::info!("redis is reachable"),
        Err(e) => tracing::warn!(error = %e, "redis is not reachable yet"),
    }
}
