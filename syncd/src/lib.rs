//! taskmaster-syncd: the write-behind daemon.
//!
//! The api writes only to Redis and marks each changed row dirty
//! (`taskmaster_shared::keys`). syncd is the only process that talks to
//! PostgreSQL: it applies the schema migrations at start, then writes the
//! dirty rows behind as it becomes the active daemon, on a schedule
//! (`SYNC_INTERVAL`), early on a large backlog, on request (the control
//! channel) and at shutdown ([`flush`]).
//!
//! Everything that makes syncd act arrives as a [`Control`] value (the
//! schedule, signals, and later notifications and control requests) and is
//! applied by one loop, so no two flushes ever overlap inside a process.
//!
//! Run it with `cargo run -p taskmaster-syncd`; it exits 0 after SIGTERM or
//! SIGINT.

pub mod backup;
pub mod ctl;
pub mod flush;
pub mod migrations;
pub mod pg;
pub mod restore;

use std::future::Future;
use std::time::Duration;

use taskmaster_shared::config::SyncdConfig;
use taskmaster_shared::control::{
    ControlReply, ControlRequest, Counts, HEARTBEAT_SECS, LEASE_TTL_MS, MAINTENANCE_SETTLE_MS,
    PostgresTarget, STATUS_TTL_SECS, SyncdStatus,
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

    /// Writes a backup file of what PostgreSQL holds (see [`backup`]).
    pub async fn write_backup(&self, kind: &str) -> Result<backup::BackupInfo, String> {
        let dir = self.config.backup_dir.clone();
        let keep = self.config.backup_keep;
        let kind = kind.to_owned();
        self.pg
            .run(move |client| Ok(backup::write_backup(client, &dir, &kind, keep)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
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
                    if applied.iter().any(|m| m.starts_with("V1__")) {
                        full_resync(&syncd).await;
                    }
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
    taskmaster_shared::systemd::ready("schema up to date; writing behind");

    // A failed flush is retried with capped exponential backoff instead of
    // waiting a whole interval; nothing was cleared, so nothing is lost.
    while let Some(event) = inbox.recv().await {
        match event {
            Control::Tick => daemon.flush_or_retry().await,
            Control::Wake => daemon.on_wake().await,
            Control::Heartbeat => {
                // The watchdog hears from the loop itself: a stuck loop
                // gets the daemon restarted.
                taskmaster_shared::systemd::watchdog();
                daemon.heartbeat().await;
            }
            Control::Request(request) => daemon.answer(request).await,
            Control::Shutdown => break,
        }
    }
    taskmaster_shared::systemd::stopping();
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

/// The host, port and database syncd connects to, read the way the client
/// reads its configuration (a URL or `host=… port=…`), without the user
/// or password. Defaults as libpq's: port 5432, database named after the
/// user.
fn postgres_target(config: &SyncdConfig) -> Option<PostgresTarget> {
    let parsed: postgres::Config = config.postgres.connection_string().expose().parse().ok()?;
    let host = match parsed.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(dir)) => dir.display().to_string(),
        None => "localhost".to_owned(),
    };
    Some(PostgresTarget {
        host,
        port: parsed.get_ports().first().copied().unwrap_or(5432),
        database: parsed
            .get_dbname()
            .or(parsed.get_user())
            .unwrap_or_default()
            .to_owned(),
    })
}

/// The running daemon: the connections plus what the status reports.
struct Daemon {
    syncd: Syncd,
    control: mpsc::Sender<Control>,
    instance: String,
    /// This machine's name, for the status record (read once).
    host: String,
    last_sync: Option<String>,
    last_result: Option<&'static str>,
    last_error: Option<String>,
    last_rows: u64,
    last_rows_per_sec: f64,
    postgres_rows: Option<Counts>,
    postgres_ok: bool,
    last_backup: Option<serde_json::Value>,
    backoff: Duration,
    retry: Option<tokio::task::JoinHandle<()>>,
    last_wake_check: tokio::time::Instant,
    /// The fencing token while this instance holds the lease; `None` on
    /// standby (no flushing, no answers, no status).
    token: Option<u64>,
    /// Set on becoming the active daemon: flush before the next status.
    flush_due: bool,
    /// Where PostgreSQL is, for the status (read once from the config).
    postgres_target: Option<PostgresTarget>,
}

impl Daemon {
    fn new(syncd: Syncd, control: mpsc::Sender<Control>) -> Self {
        let postgres_target = postgres_target(&syncd.config);
        Daemon {
            syncd,
            control,
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default(),
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
            last_backup: None,
            backoff: RETRY_FIRST,
            retry: None,
            last_wake_check: tokio::time::Instant::now(),
            token: None,
            flush_due: false,
            postgres_target,
        }
    }

    /// Takes or renews the lease; logs changes of role.
    async fn renew_lease(&mut self) {
        let Ok(mut conn) = redis_pool::shared(&self.syncd.redis).await else {
            return;
        };
        let token: Result<u64, _> = lease_script()
            .arg(self.syncd.keys.prefix())
            .arg(&self.instance)
            .arg(LEASE_TTL_MS)
            .invoke_async(&mut conn)
            .await;
        match (self.token, token) {
            (None, Ok(t)) if t > 0 => {
                tracing::info!(sync.token = t, "this syncd is now the active one");
                self.token = Some(t);
                self.flush_due = true;
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
        let _keepalive = self.keepalive();
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
                            tracing::info!(applied = ?applied, "schema was missing; migrations applied again");
                            full_resync(&self.syncd).await;
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
            host: self.host.clone(),
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
            last_backup: self.last_backup.clone(),
            postgres_target: self.postgres_target.clone(),
        }
    }

    /// Renews the lease and, when active, writes the status record (with
    /// its TTL).
    async fn heartbeat(&mut self) {
        self.renew_lease().await;
        if self.token.is_none() {
            return;
        }
        if std::mem::take(&mut self.flush_due) {
            // Flush at once on becoming active, as the reference did at
            // start-up: rows left pending while no syncd was active are
            // written now rather than an interval later, and the first
            // status this daemon writes already has a last sync to judge
            // freshness by.
            self.flush_or_retry().await;
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

    /// Keeps the lease and the status record alive while a long action
    /// holds the loop (a flush of a big backlog, a backup, a restore), so
    /// no standby takes over meanwhile. Stops when dropped.
    fn keepalive(&self) -> AbortOnDrop {
        let redis = self.syncd.redis.clone();
        let keys = self.syncd.keys.clone();
        let instance = self.instance.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut timer = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECS));
            timer.tick().await;
            loop {
                timer.tick().await;
                let Ok(mut conn) = redis_pool::shared(&redis).await else {
                    continue;
                };
                let token: Result<u64, _> = lease_script()
                    .arg(keys.prefix())
                    .arg(&instance)
                    .arg(LEASE_TTL_MS)
                    .invoke_async(&mut conn)
                    .await;
                if let Ok(0) = token {
                    tracing::warn!("lost the lease during a long operation");
                }
                taskmaster_shared::systemd::watchdog();
                let _: Result<(), _> = redis::cmd("EXPIRE")
                    .arg(keys.syncd_status())
                    .arg(STATUS_TTL_SECS)
                    .query_async(&mut conn)
                    .await;
            }
        }))
    }

    /// Flushes what is pending, then writes a backup file.
    async fn backup(&mut self) -> Result<backup::BackupInfo, String> {
        self.flush().await.map_err(|e| {
            format!("backup refused: pending changes could not be flushed first ({e})")
        })?;
        let info = self.syncd.write_backup("snapshot").await?;
        self.last_backup = Some(serde_json::json!({
            "file": info.file, "created_at": info.created_at, "size_bytes": info.size_bytes,
            "sha256": info.sha256, "rows": info.rows,
        }));
        tracing::info!(
            backup.file = %info.file,
            backup.size_bytes = info.size_bytes,
            backup.pruned = info.pruned.len(),
            "backup written"
        );
        Ok(info)
    }

    async fn set_maintenance(&self, on: bool) -> Result<(), String> {
        let mut conn = redis_pool::shared(&self.syncd.redis)
            .await
            .map_err(|e| format!("redis: {e}"))?;
        let key = self.syncd.keys.maintenance();
        let result: Result<(), _> = if on {
            let value = serde_json::json!({
                "since": taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros()),
                "reason": "restore",
            });
            redis::cmd("SET")
                .arg(key)
                .arg(value.to_string())
                .query_async(&mut conn)
                .await
        } else {
            redis::cmd("DEL").arg(key).query_async(&mut conn).await
        };
        result.map_err(|e| format!("redis: {e}"))
    }

    /// Rebuilds Redis from PostgreSQL (after loading a backup file into
    /// PostgreSQL when `from` names one), under the maintenance flag. See
    /// [`restore`] for what a rebuild guarantees.
    async fn restore(&mut self, args: &serde_json::Value) -> Result<serde_json::Value, String> {
        let discard = match args.get("discard_pending") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(other) => {
                return Err(format!(
                    "discard_pending must be true or false, not {other}"
                ));
            }
        };
        let from = args
            .get("from")
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let started = std::time::Instant::now();
        // A named file is checked before anything changes.
        let file = match &from {
            Some(name) => {
                let dir = self.syncd.config.backup_dir.clone();
                let name = name.clone();
                let checked = tokio::task::spawn_blocking(move || {
                    let path = backup::resolve(&dir, &name)?;
                    backup::verify(&path)?;
                    Ok::<_, backup::BackupError>(path)
                })
                .await
                .map_err(|e| format!("restore refused: {e}"))?;
                Some(checked.map_err(|e| format!("restore refused: {e}"))?)
            }
            None => None,
        };
        self.set_maintenance(true).await?;
        tracing::warn!(from = ?from, discard_pending = discard, "restore: maintenance on");
        tokio::time::sleep(Duration::from_millis(MAINTENANCE_SETTLE_MS)).await;
        let mut result = serde_json::json!({"from": from});

        match self.flush().await {
            Ok(report) => result["flushed_rows"] = report.rows().into(),
            Err(e) if discard => {
                let saved = restore::save_pending(
                    &self.syncd.redis,
                    &self.syncd.keys,
                    &self.syncd.config.backup_dir,
                )
                .await;
                match saved {
                    Ok((file, rows)) => {
                        tracing::warn!(discarded.file = %file, discarded.rows = rows, flush.error = %e, "restore: pending rows discarded (saved to a file)");
                        result["discarded"] =
                            serde_json::json!({"file": file, "rows": rows, "flush_error": e});
                    }
                    Err(save) => {
                        let _ = self.set_maintenance(false).await;
                        return Err(format!(
                            "restore refused: pending changes could not be flushed ({e}) nor saved to a file ({save}); nothing was changed"
                        ));
                    }
                }
            }
            Err(e) => {
                let _ = self.set_maintenance(false).await;
                return Err(format!(
                    "restore refused: pending changes could not be written to PostgreSQL ({e}); nothing was changed. \
                     Retry once PostgreSQL accepts them, or pass discard_pending=true to drop them \
                     (they are saved to a file in BACKUP_DIR first)"
                ));
            }
        }

        if let Some(path) = file {
            // What the file replaces is kept too.
            let pre = match self.syncd.write_backup("pre-restore").await {
                Ok(info) => info,
                Err(e) => {
                    let _ = self.set_maintenance(false).await;
                    return Err(format!(
                        "restore refused: cannot back up the current data first ({e}); nothing was changed"
                    ));
                }
            };
            result["pre_restore_backup"] = pre.file.into();
            let loaded = self
                .syncd
                .pg
                .run(move |client| Ok(backup::load(client, &path)))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match loaded {
                Ok(counts) => {
                    result["file_rows"] = serde_json::to_value(counts).unwrap_or_default()
                }
                Err(e) => {
                    let _ = self.set_maintenance(false).await;
                    return Err(format!(
                        "restore failed loading the file into PostgreSQL ({e}); nothing was changed"
                    ));
                }
            }
        }

        match restore::rebuild(&self.syncd.redis, &self.syncd.keys, &self.syncd.pg).await {
            Ok(loaded) => {
                self.set_maintenance(false).await?;
                result["loaded"] = serde_json::to_value(loaded).unwrap_or_default();
                result["duration_ms"] = (started.elapsed().as_millis() as u64).into();
                tracing::warn!(loaded = ?loaded, "restore: done, maintenance off");
                self.refresh_postgres_rows().await;
                Ok(result)
            }
            Err(e) => {
                tracing::error!(error = %e, "restore failed while rebuilding Redis; maintenance stays on");
                Err(format!(
                    "restore failed while rebuilding Redis ({e}); the api stays in maintenance until a restore succeeds: run it again"
                ))
            }
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
            refused: false,
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
            "backup" => {
                let keepalive = self.keepalive();
                match self.backup().await {
                    Ok(info) => {
                        reply.ok = true;
                        reply.result = serde_json::to_value(info).unwrap_or_default();
                    }
                    Err(e) => {
                        reply.refused = e.starts_with("backup refused");
                        reply.error = Some(e);
                    }
                }
                drop(keepalive);
            }
            "restore" => {
                let keepalive = self.keepalive();
                match self.restore(&request.args).await {
                    Ok(result) => {
                        reply.ok = true;
                        reply.result = result;
                    }
                    Err(e) => {
                        reply.refused =
                            e.contains("nothing was changed") || e.starts_with("restore refused");
                        reply.error = Some(e);
                    }
                }
                drop(keepalive);
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

/// A database that was just created (or lost its tables) holds none of
/// the rows Redis has: mark them all dirty so the next flush copies them.
async fn full_resync(syncd: &Syncd) {
    match flush::mark_all_dirty(&syncd.redis, &syncd.keys).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            rows = n,
            "new or emptied database: every row will be written again"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot mark the rows for a full resync"),
    }
}

fn lease_script() -> &'static redis::Script {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(include_str!("lua/lease.lua")));
    &SCRIPT
}

/// A spawned task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::config::lookup_from_pairs;

    fn config(vars: &[(&str, &str)]) -> SyncdConfig {
        SyncdConfig::from_lookup(lookup_from_pairs(vars)).expect("valid configuration")
    }

    #[test]
    fn the_postgres_target_shows_host_port_and_database_never_the_credentials() {
        for (vars, host, port, database) in [
            (
                vec![("DATABASE_URL", "postgres://tm:s3cr3t@db.local:5433/tasks")],
                "db.local",
                5433,
                "tasks",
            ),
            (
                vec![(
                    "DATABASE_URL",
                    "postgresql://tm:s3cr3t@10.1.2.3/tasks?sslmode=disable",
                )],
                "10.1.2.3",
                5432,
                "tasks",
            ),
            (
                vec![
                    ("DB_HOST", "pg.example"),
                    ("DB_PORT", "6543"),
                    ("POSTGRES_USER", "tm"),
                    ("POSTGRES_DB", "prod"),
                    ("POSTGRES_PASSWORD", "s3cr3t"),
                ],
                "pg.example",
                6543,
                "prod",
            ),
        ] {
            let target = postgres_target(&config(&vars)).expect("parsed");
            assert_eq!(
                (target.host.as_str(), target.port, target.database.as_str()),
                (host, port, database),
                "{vars:?}"
            );
            let shown = serde_json::to_string(&target).expect("json");
            assert!(
                !shown.contains("s3cr3t") && !shown.contains("tm\""),
                "{shown}"
            );
        }
    }
}
