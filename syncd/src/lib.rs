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
//!
//! Modules, one job each: [`daemon`] (the active daemon's state and its
//! flushes), `lease` (who is active, fenced), `status` (the heartbeat's
//! record), `actions` (control requests: force, status, backup, restore),
//! `listen` (the Redis subscriptions), [`audit`] (the audit log, a
//! consumer of the change log), [`webhooks`] (deliveries, another; both
//! read it through `groups`), [`flush`], [`reconcile`] (Redis
//! checked against PostgreSQL after it restarted), [`backup`], [`restore`],
//! [`metrics`] (Prometheus, on `SYNCD_METRICS_ADDR`),
//! [`pg`] (the PostgreSQL thread) and [`ctl`] (the operator's CLI).

mod actions;
pub mod audit;
pub mod backup;
pub mod changes;
pub mod ctl;
mod daemon;
pub mod discarded;
pub mod fence;
pub mod flush;
mod groups;
mod lease;
mod listen;
pub mod metrics;
pub mod migrations;
pub mod pg;
pub mod reconcile;
pub mod restore;
mod status;
pub mod store;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use taskmaster_shared::config::SyncdConfig;
use taskmaster_shared::control::Incoming;
use taskmaster_shared::keys::Keys;
use taskmaster_shared::redis_pool::{self, RedisPool};
use tokio::sync::mpsc;

use daemon::Daemon;
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
    /// The change log grew.
    Wake,
    /// Time to refresh the status record.
    Heartbeat,
    /// A request from the control channel; answered exactly once.
    Request(Box<Incoming>),
    /// SIGTERM or SIGINT: finish, flush once more, exit.
    Shutdown,
}

/// The daemon's connections.
pub struct Syncd {
    pub config: SyncdConfig,
    pub redis: RedisPool,
    pub keys: Keys,
    /// The lease, status, maintenance and control commands.
    pub store: store::Store,
    pub pg: PgWorker,
    /// The audit log's own PostgreSQL threads (see [`audit`]): one
    /// appends, one answers queries, so neither waits for a flush or for
    /// the other.
    pub audit_pg: PgWorker,
    pub query_pg: PgWorker,
    /// The process's metrics (see [`metrics`]).
    pub metrics: std::sync::Arc<metrics::SyncdMetrics>,
}

impl Syncd {
    /// Prepares the connections; nothing is dialed yet.
    pub fn new(config: SyncdConfig) -> Result<Self, SyncdError> {
        let metrics = std::sync::Arc::new(metrics::SyncdMetrics::new(
            taskmaster_shared::metrics::Registry::from_config(&config.metrics),
        ));
        let redis = redis_pool::build_measured(&config.redis, metrics.redis.clone())?;
        let keys = Keys::new(config.redis.key_prefix.clone());
        let pg = PgWorker::start(&config.postgres)?;
        let audit_pg = PgWorker::start(&config.postgres)?;
        let query_pg = PgWorker::start(&config.postgres)?;
        let store = store::Store {
            redis: redis.clone(),
            keys: keys.clone(),
        };
        Ok(Syncd {
            config,
            redis,
            keys,
            store,
            pg,
            audit_pg,
            query_pg,
            metrics,
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
    syncd.metrics.registry.spawn_upkeep();
    if let Some(addr) = syncd.config.metrics_addr {
        tokio::spawn(metrics::serve(
            addr,
            syncd.metrics.clone(),
            syncd.config.metrics.clone(),
        ));
    }
    // Only a log line: never hold up start (or a shutdown) for it.
    tokio::spawn(check_redis(syncd.store.clone()));

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
            Control::Request(request) => daemon.answer(*request).await,
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

/// A database that was just created (or lost its tables) holds none of
/// the rows Redis has: mark them all dirty so the next flush copies them.
pub(crate) async fn full_resync(syncd: &Syncd) {
    match flush::mark_all_dirty(&syncd.redis, &syncd.keys).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            rows = n,
            "new or emptied database: every row will be written again"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot mark the rows for a full resync"),
    }
}

async fn check_redis(store: store::Store) {
    match store.ping().await {
        Ok(()) => tracing::info!("redis is reachable"),
        Err(e) => tracing::warn!(error = %e, "redis is not reachable yet"),
    }
}
