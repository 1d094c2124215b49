//! syncd's Prometheus metrics and the small listener that serves them
//! (`SYNCD_METRICS_ADDR`, default `127.0.0.1:7891`; `GET /metrics`, plus
//! `GET /health` for probes). The write-behind is what operators worry
//! about, so its lag and backlog are here, refreshed at every heartbeat.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `taskmaster_syncd_flushes_total` | counter | result (ok, error) |
//! | `taskmaster_syncd_flush_operation_seconds` | histogram | |
//! | `taskmaster_syncd_flush_rows` | histogram (rows per flush) | type |
//! | `taskmaster_syncd_flush_failures_total` | counter | reason (postgres, redis, lease, check) |
//! | `taskmaster_syncd_pending_rows` | gauge | type |
//! | `taskmaster_syncd_lag_seconds` | gauge | |
//! | `taskmaster_syncd_lease_held` | gauge | |
//! | `taskmaster_syncd_fencing_token` | gauge | |
//! | `taskmaster_syncd_backup_operation_seconds` | histogram | result |
//! | `taskmaster_syncd_restore_operation_seconds` | histogram | result |
//! | `taskmaster_syncd_last_backup_timestamp_seconds` | gauge | |
//! | `taskmaster_changes_entries` | gauge | |
//! | `taskmaster_changes_consumer_lag` | gauge | consumer (audit, webhooks) |
//! | `taskmaster_redis_duration_seconds` | histogram | |
//! | `taskmaster_build_info` | gauge | process, version |
//!
//! The listener refuses what `may_scrape` refuses (403, or 401 with a
//! token configured); it reads no body and answers one small text, so it
//! needs no limits beyond hyper's header-read timeout.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use metrics::{Counter, Gauge, Histogram, Unit};
use taskmaster_shared::config::MetricsConfig;
use taskmaster_shared::control::Counts;
use taskmaster_shared::keys::RowType;
use taskmaster_shared::metrics::{Registry, may_scrape};

use crate::flush::FlushReport;

/// Why a flush failed, as the failure counter labels it.
#[derive(Debug, Clone, Copy)]
pub enum FailReason {
    Postgres,
    Redis,
    /// The lease was lost or fenced.
    Lease,
    /// The Redis server could not be checked against PostgreSQL.
    Check,
}

impl FailReason {
    fn label(self) -> &'static str {
        match self {
            FailReason::Postgres => "postgres",
            FailReason::Redis => "redis",
            FailReason::Lease => "lease",
            FailReason::Check => "check",
        }
    }
}

/// The daemon's metrics.
pub struct SyncdMetrics {
    pub registry: Registry,
    pub redis: Histogram,
    flushes_ok: Counter,
    flushes_error: Counter,
    flush_seconds: Histogram,
    flush_rows: [Histogram; 4],
    pending: [Gauge; 4],
    lag: Gauge,
    lease_held: Gauge,
    fencing_token: Gauge,
    last_backup: Gauge,
    changes_entries: Gauge,
    audit_lag: Gauge,
    webhooks_lag: Gauge,
}

impl SyncdMetrics {
    pub fn new(registry: Registry) -> Self {
        let r = &registry;
        r.build_info("syncd");
        for (name, unit, help) in [
            ("taskmaster_syncd_flushes_total", None, "Flushes by result."),
            (
                "taskmaster_syncd_flush_operation_seconds",
                Some(Unit::Seconds),
                "Time a flush took, from the hand-off to the commit.",
            ),
            (
                "taskmaster_syncd_flush_rows",
                None,
                "Rows a committed flush wrote (upserts and deletes), by type.",
            ),
            (
                "taskmaster_syncd_flush_failures_total",
                None,
                "Failed flushes by reason; their rows stay pending.",
            ),
            (
                "taskmaster_syncd_pending_rows",
                None,
                "Rows changed in Redis and not yet in PostgreSQL, by type.",
            ),
            (
                "taskmaster_syncd_lag_seconds",
                Some(Unit::Seconds),
                "Seconds since the oldest change not yet in PostgreSQL (0: nothing waits).",
            ),
            (
                "taskmaster_syncd_lease_held",
                None,
                "1 while this syncd holds the lease (is the active daemon).",
            ),
            (
                "taskmaster_syncd_fencing_token",
                None,
                "The fencing token of the lease this syncd holds (0 on standby).",
            ),
            (
                "taskmaster_syncd_backup_operation_seconds",
                Some(Unit::Seconds),
                "Backups by result, and the time each took.",
            ),
            (
                "taskmaster_syncd_restore_operation_seconds",
                Some(Unit::Seconds),
                "Restores by result, and the time each took.",
            ),
            (
                "taskmaster_syncd_last_backup_timestamp_seconds",
                Some(Unit::Seconds),
                "Unix time of the last backup this syncd wrote.",
            ),
            (
                "taskmaster_changes_entries",
                None,
                "Entries in the change log.",
            ),
            (
                "taskmaster_changes_consumer_lag",
                None,
                "Change log entries a consumer has not finished (read and unacknowledged included).",
            ),
            (
                "taskmaster_redis_duration_seconds",
                Some(Unit::Seconds),
                "Redis round trips as syncd waits for them.",
            ),
        ] {
            r.describe(name, unit, help);
        }
        let per_type =
            |name: &'static str| RowType::ALL.map(|t| r.gauge(name, &[("type", t.plural())]));
        SyncdMetrics {
            redis: r.histogram("taskmaster_redis_duration_seconds", &[]),
            flushes_ok: r.counter("taskmaster_syncd_flushes_total", &[("result", "ok")]),
            flushes_error: r.counter("taskmaster_syncd_flushes_total", &[("result", "error")]),
            flush_seconds: r.histogram("taskmaster_syncd_flush_operation_seconds", &[]),
            flush_rows: RowType::ALL
                .map(|t| r.histogram("taskmaster_syncd_flush_rows", &[("type", t.plural())])),
            pending: per_type("taskmaster_syncd_pending_rows"),
            lag: r.gauge("taskmaster_syncd_lag_seconds", &[]),
            lease_held: r.gauge("taskmaster_syncd_lease_held", &[]),
            fencing_token: r.gauge("taskmaster_syncd_fencing_token", &[]),
            last_backup: r.gauge("taskmaster_syncd_last_backup_timestamp_seconds", &[]),
            changes_entries: r.gauge("taskmaster_changes_entries", &[]),
            audit_lag: r.gauge("taskmaster_changes_consumer_lag", &[("consumer", "audit")]),
            webhooks_lag: r.gauge(
                "taskmaster_changes_consumer_lag",
                &[("consumer", "webhooks")],
            ),
            registry,
        }
    }

    pub fn flushed(&self, report: &FlushReport) {
        self.flushes_ok.increment(1);
        self.flush_seconds.record(report.duration.as_secs_f64());
        for (i, rows) in self.flush_rows.iter().enumerate() {
            rows.record((report.upserted[i] + report.deleted[i]) as f64);
        }
    }

    pub fn flush_failed(&self, reason: FailReason) {
        self.flushes_error.increment(1);
        self.registry
            .counter(
                "taskmaster_syncd_flush_failures_total",
                &[("reason", reason.label())],
            )
            .increment(1);
    }

    /// The backlog as the heartbeat read it.
    pub fn backlog(&self, pending: &Counts, lag_seconds: f64) {
        let by_type = [
            pending.users,
            pending.groups,
            pending.tasks,
            pending.webhooks,
        ];
        for (gauge, n) in self.pending.iter().zip(by_type) {
            gauge.set(n as f64);
        }
        self.lag.set(lag_seconds);
    }

    /// Whether this syncd holds the lease, and under which token.
    pub fn lease(&self, token: Option<u64>) {
        self.lease_held.set(if token.is_some() { 1.0 } else { 0.0 });
        self.fencing_token.set(token.unwrap_or(0) as f64);
    }

    /// The change log's length and what each consumer has not finished.
    pub fn change_log(&self, entries: Option<u64>, audit: Option<u64>, webhooks: Option<u64>) {
        if let Some(n) = entries {
            self.changes_entries.set(n as f64);
        }
        if let Some(n) = audit {
            self.audit_lag.set(n as f64);
        }
        if let Some(n) = webhooks {
            self.webhooks_lag.set(n as f64);
        }
    }

    /// A backup (`kind` "backup") or restore ended after `took`.
    pub fn operation(&self, kind: Operation, took: Duration, ok: bool) {
        let name = match kind {
            Operation::Backup => "taskmaster_syncd_backup_operation_seconds",
            Operation::Restore => "taskmaster_syncd_restore_operation_seconds",
        };
        let result = if ok { "ok" } else { "error" };
        self.registry
            .histogram(name, &[("result", result)])
            .record(took.as_secs_f64());
        if ok && matches!(kind, Operation::Backup) {
            self.last_backup
                .set(chrono::Utc::now().timestamp_micros() as f64 / 1e6);
        }
    }
}

/// Which long operation [`SyncdMetrics::operation`] records.
#[derive(Debug, Clone, Copy)]
pub enum Operation {
    Backup,
    Restore,
}

/// Serves `GET /metrics` on `addr` until the process ends. A failure to
/// bind is logged, not fatal: the write-behind matters more than its
/// metrics.
pub async fn serve(addr: SocketAddr, metrics: Arc<SyncdMetrics>, config: MetricsConfig) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot serve metrics (SYNCD_METRICS_ADDR)");
            return;
        }
    };
    tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "serving metrics");
    let config = Arc::new(config);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let metrics = metrics.clone();
        let config = config.clone();
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let answer = answer(&request, peer, &metrics, &config);
            async move { Ok::<_, Infallible>(answer) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer<B>(
    request: &Request<B>,
    peer: SocketAddr,
    metrics: &SyncdMetrics,
    config: &MetricsConfig,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, media: &'static str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(media),
        );
        response
    };
    let text = "text/plain; charset=utf-8";
    if request.method() != hyper::Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, text, "GET only\n".into());
    }
    match request.uri().path() {
        "/health" => reply(StatusCode::OK, text, "ok\n".into()),
        "/metrics" => {
            if !may_scrape(config, peer.ip(), request.headers()) {
                return if config.token.is_empty() {
                    reply(
                        StatusCode::FORBIDDEN,
                        text,
                        "metrics are served to this machine only\n".into(),
                    )
                } else {
                    reply(
                        StatusCode::UNAUTHORIZED,
                        text,
                        "a bearer token is required\n".into(),
                    )
                };
            }
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics.registry.render().unwrap_or_default(),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, text, "not found\n".into()),
    }
}
