//! The status record: what the active daemon reports in `P syncd:status`
//! (JSON with a TTL, so a missing key means no syncd runs), refreshed by
//! the heartbeat, and what `/admin/status` and `taskmaster-ctl status` show.

use taskmaster_shared::control::{AuditBacklog, Counts, SyncdStatus};

use crate::daemon::Daemon;

impl Daemon {
    pub(crate) async fn pending(&self) -> Result<Counts, redis::RedisError> {
        self.syncd.store.pending().await
    }

    pub(crate) fn status(
        &self,
        pending: Counts,
        redis_ok: bool,
        audit: Option<AuditBacklog>,
    ) -> SyncdStatus {
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
            audit,
            backups: crate::backup::recent(
                &self.syncd.config.backup_dir,
                taskmaster_shared::control::RECENT_BACKUPS,
            ),
        }
    }

    /// Renews the lease and, when active, writes the status record (with
    /// its TTL).
    pub(crate) async fn heartbeat(&mut self) {
        self.renew_lease().await;
        // A restarted Redis refuses creates until it is checked: check it
        // now rather than at the next flush.
        let Some(holder) = self.holder() else {
            return;
        };
        let _ = self.check_redis_server(&holder).await;
        let retention = crate::changes::Retention {
            age: self.syncd.config.changes_retain,
            entries: self.syncd.config.changes_retain_entries,
        };
        match crate::changes::trim(&self.syncd.redis, &self.syncd.keys, retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(changes.trimmed = n, "change log trimmed"),
            Err(e) => tracing::warn!(error = %e, "cannot trim the change log"),
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
        let backlog = self.syncd.store.backlog().await.ok();
        let (pending, redis_ok) = match backlog {
            Some(b) => (b.pending, true),
            None => (Counts::default(), false),
        };
        let log = self.syncd.store.change_log().await.ok();
        let audit = log.map(|l| l.audit);
        self.record_metrics(backlog, log);
        let status = self.status(pending, redis_ok, audit);
        let Ok(json) = serde_json::to_string(&status) else {
            return;
        };
        if let Err(e) = self.syncd.store.write_status(&json).await {
            tracing::debug!(error = %e, "cannot write the status record");
        }
    }

    /// The backlog, the lag, the lease and the change log, as the
    /// heartbeat just read them, into the metrics.
    fn record_metrics(
        &self,
        backlog: Option<crate::store::Backlog>,
        log: Option<crate::store::ChangeLogState>,
    ) {
        let metrics = &self.syncd.metrics;
        metrics.lease(self.token);
        if let Some(b) = backlog {
            metrics.backlog(&b.pending, b.lag_seconds);
        }
        metrics.change_log(
            log.map(|l| l.entries),
            log.map(|l| l.audit.backlog),
            log.map(|l| l.webhooks.backlog),
        );
    }

    pub(crate) async fn clear_status(&self) {
        if self.token.is_none() {
            return;
        }
        let _ = self.syncd.store.clear_status().await;
    }
}
