//! The active daemon: its connections, what its status reports, and its
//! flushes (when, and what their outcome did to the status).

use std::time::Duration;

use taskmaster_shared::config::SyncdConfig;
use taskmaster_shared::control::{Counts, HEARTBEAT_SECS, PostgresTarget};
use taskmaster_shared::redis_pool;
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing::field::Empty;

use crate::flush::{self, FlushError, FlushReport};
use crate::listen::{listen, watch_changes};
use crate::metrics::FailReason;
use crate::{Control, RETRY_FIRST, RETRY_MAX, Syncd, full_resync};

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
pub(crate) struct Daemon {
    pub(crate) syncd: Syncd,
    pub(crate) control: mpsc::Sender<Control>,
    pub(crate) instance: String,
    /// This machine's name, for the status record (read once).
    pub(crate) host: String,
    pub(crate) last_sync: Option<String>,
    pub(crate) last_result: Option<&'static str>,
    pub(crate) last_error: Option<String>,
    pub(crate) last_rows: u64,
    pub(crate) last_rows_per_sec: f64,
    pub(crate) postgres_rows: Option<Counts>,
    pub(crate) postgres_ok: bool,
    pub(crate) last_backup: Option<serde_json::Value>,
    pub(crate) backoff: Duration,
    pub(crate) retry: Option<tokio::task::JoinHandle<()>>,
    pub(crate) last_wake_check: tokio::time::Instant,
    /// The fencing token while this instance holds the lease; `None` on
    /// standby (no flushing, no answers, no status).
    pub(crate) token: Option<u64>,
    /// Set on becoming the active daemon: flush before the next status.
    pub(crate) flush_due: bool,
    /// Where PostgreSQL is, for the status (read once from the config).
    pub(crate) postgres_target: Option<PostgresTarget>,
    /// This process's flush attempts so far: the `flush.id` of the
    /// flush's log lines.
    pub(crate) flush_seq: u64,
    /// Control requests this daemon has taken, by id: a caller publishes
    /// its request again while no answer comes (a failover may have lost
    /// the first), and each is carried out once.
    pub(crate) taken: crate::actions::Taken,
}

impl Daemon {
    pub(crate) fn new(syncd: Syncd, control: mpsc::Sender<Control>) -> Self {
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
            flush_seq: 0,
            taken: crate::actions::Taken::default(),
        }
    }

    /// The schedule, the heartbeat and the Redis listener, all feeding the
    /// one loop.
    pub(crate) fn spawn_sources(&self) {
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
            tokio::spawn(watch_changes(
                client.clone(),
                self.syncd.keys.clone(),
                self.control.clone(),
            ));
            tokio::spawn(crate::audit::consume(
                client.clone(),
                self.syncd.keys.clone(),
                self.syncd.audit_pg.clone(),
                self.syncd.config.fault,
                self.control.clone(),
            ));
            crate::webhooks::spawn(
                client.clone(),
                self.syncd.keys.clone(),
                self.syncd.config.webhooks.clone(),
                self.control.clone(),
            );
            tokio::spawn(listen(
                client,
                self.syncd.keys.clone(),
                self.syncd.config.redis.control_secret.clone(),
                self.control.clone(),
            ));
        }
    }

    /// The lease this daemon holds, while it is the active one.
    pub(crate) fn holder(&self) -> Option<flush::Holder> {
        self.token.map(|token| flush::Holder {
            instance: self.instance.clone(),
            token,
        })
    }

    /// Flushes and records the outcome; returns the report or the error.
    /// Only the lease holder flushes.
    /// Each attempt runs in a `flush` span: its log lines carry `flush.id`
    /// (this process's attempt count) and, once committed, `flush.number`
    /// (PostgreSQL's count of committed flushes).
    pub(crate) async fn flush(&mut self) -> Result<FlushReport, String> {
        self.flush_seq += 1;
        let span = tracing::info_span!("flush", flush.id = self.flush_seq, flush.number = Empty);
        self.flush_attempt(&span).instrument(span.clone()).await
    }

    async fn flush_attempt(&mut self, span: &tracing::Span) -> Result<FlushReport, String> {
        let Some(holder) = self.holder() else {
            return Err("standing by: another syncd is active".to_owned());
        };
        let _keepalive = self.keepalive();
        // Never flush into PostgreSQL from a Redis server not yet checked
        // against it (see `reconcile`).
        if let Err(e) = self.check_redis_server(&holder).await {
            self.last_result = Some("error");
            self.last_error = Some(e.clone());
            self.syncd.metrics.flush_failed(FailReason::Check);
            return Err(e);
        }
        match flush::flush_once(
            &self.syncd.redis,
            &self.syncd.keys,
            &self.syncd.pg,
            Some(&holder),
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
                self.syncd.metrics.flushed(&report);
                span.record("flush.number", report.number);
                if report.rows() > 0 {
                    let secs = report.duration.as_secs_f64().max(1e-6);
                    self.last_rows = report.rows() as u64;
                    self.last_rows_per_sec = report.rows() as f64 / secs;
                    let n = |i: usize| report.upserted[i] + report.deleted[i];
                    tracing::info!(
                        flush.users = n(0),
                        flush.groups = n(1),
                        flush.tasks = n(2),
                        flush.webhooks = n(3),
                        flush.deleted = report.deleted.iter().sum::<usize>(),
                        flush.duration_ms = report.duration.as_millis() as u64,
                        "flushed"
                    );
                    self.refresh_postgres_rows().await;
                }
                Ok(report)
            }
            Err(e @ (FlushError::Fenced | FlushError::LeaseLost)) => {
                self.syncd.metrics.flush_failed(FailReason::Lease);
                tracing::warn!(error = %e, "this syncd stands by");
                self.token = None;
                Err(e.to_string())
            }
            Err(e) => {
                self.syncd.metrics.flush_failed(match e {
                    FlushError::Postgres(_) => FailReason::Postgres,
                    _ => FailReason::Redis,
                });
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

    /// Checks the Redis server against PostgreSQL once per server (after a
    /// restart: raises the id counters, and rebuilds Redis when it lost a
    /// flushed state); see [`crate::reconcile`].
    pub(crate) async fn check_redis_server(
        &mut self,
        holder: &flush::Holder,
    ) -> Result<(), String> {
        match crate::reconcile::reconcile(&self.syncd, Some(holder)).await {
            Ok(crate::reconcile::Reconciled::Known) => Ok(()),
            Ok(done) => {
                tracing::info!(outcome = ?done, "checked a new redis server against PostgreSQL");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the redis server against PostgreSQL");
                Err(format!("checking redis against PostgreSQL: {e}"))
            }
        }
    }

    pub(crate) async fn flush_or_retry(&mut self) {
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
    pub(crate) async fn on_wake(&mut self) {
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

    pub(crate) async fn refresh_postgres_rows(&mut self) {
        let counted = self
            .syncd
            .pg
            .run(|client| {
                let row = client.query_one(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups), (SELECT count(*) FROM tasks),
                            (SELECT count(*) FROM webhooks)",
                    &[],
                )?;
                let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
                Ok(Counts { users: n(0), groups: n(1), tasks: n(2), webhooks: n(3) })
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
