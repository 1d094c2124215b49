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
use taskmaster_shared::keys::Keys;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The schedule says it is time to flush.
    Tick,
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
        flush::flush_once(&self.redis, &self.keys, &self.pg).await
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

    let interval = syncd.config.sync_interval;
    let ticks = control.clone();
    tokio::spawn(async move {
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            if ticks.send(Control::Tick).await.is_err() {
                break;
            }
        }
    });

    // A failed flush is retried with capped exponential backoff instead of
    // waiting a whole interval; nothing was cleared, so nothing is lost.
    let mut backoff = RETRY_FIRST;
    let mut retry: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(event) = inbox.recv().await {
        match event {
            Control::Tick => {
                if log_flush(&syncd).await {
                    backoff = RETRY_FIRST;
                } else {
                    if let Some(pending) = retry.take() {
                        pending.abort();
                    }
                    let retry_tx = control.clone();
                    let wait = backoff;
                    retry = Some(tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = retry_tx.send(Control::Tick).await;
                    }));
                    tracing::info!(
                        retry_in_ms = wait.as_millis() as u64,
                        "flush will be retried"
                    );
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
            Control::Shutdown => break,
        }
    }
    let grace = syncd.config.shutdown_grace;
    if tokio::time::timeout(grace, log_flush(&syncd))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "final flush step did not finish within the grace period"
        );
    }
    tracing::info!("taskmaster-syncd stopped");
    Ok(())
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

/// Runs one flush and logs it; returns whether it succeeded.
async fn log_flush(syncd: &Syncd) -> bool {
    match syncd.flush_once().await {
        Ok(report) if report.rows() == 0 => {
            tracing::debug!("flush: nothing to write");
            true
        }
        Ok(report) => {
            tracing::info!(
                sync.upserted = ?report.upserted,
                sync.deleted = ?report.deleted,
                sync.duration_ms = report.duration.as_millis() as u64,
                "flushed"
            );
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "flush failed; the rows stay pending");
            false
        }
    }
}
