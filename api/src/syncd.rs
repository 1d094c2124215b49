//! Asking syncd: one control request over the control channel and its
//! single answer (see `taskmaster_shared::control`), with every way of
//! getting no answer turned into the api's error; and [`SyncView`], what
//! Redis says of the write-behind (`/admin/*` and the status page).

use std::time::Duration;

use chrono::{DateTime, Utc};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use taskmaster_shared::control::{
    Action, CallError, ControlReply, Counts, HEARTBEAT_SECS, SyncdStatus, write_behind_lag,
};

use crate::answers::SyncSummary;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::SyncCounts;

/// Publishes one control request and waits up to `wait` for its answer.
pub async fn request(
    state: &AppState,
    action: Action,
    wait: Duration,
) -> Result<ControlReply, ApiError> {
    let id = format!("{:016x}{:016x}", OsRng.next_u64(), OsRng.next_u64());
    match state.store.control_call((id, action), wait).await {
        Ok(reply) => Ok(reply),
        Err(CallError::Redis(e)) => {
            tracing::warn!(error = %e, "control channel unavailable");
            Err(ApiError::Unavailable(
                "Storage temporarily unavailable; retry shortly".into(),
            ))
        }
        Err(CallError::NoDaemon) => {
            Err(ApiError::Unavailable("No sync daemon is listening".into()))
        }
        Err(CallError::Closed) => Err(ApiError::Unavailable(
            "Lost the connection to Redis while waiting for the sync daemon".into(),
        )),
        Err(CallError::TimedOut) => Err(ApiError::GatewayTimeout(format!(
            "The sync daemon did not answer within {}s",
            wait.as_secs()
        ))),
    }
}

const NEVER: &str = "0001-01-01T00:00:00Z";

/// What Redis says about the write-behind right now (one round trip).
pub struct SyncView {
    /// syncd's status record (`None`: no syncd has reported lately).
    pub status: Option<SyncdStatus>,
    /// Rows waiting (dirty plus in flight), by type.
    pub pending: Counts,
    /// Seconds since the oldest change not yet in PostgreSQL.
    pub lag_seconds: f64,
    /// The lease: holder instance and fencing token.
    pub lease: Option<(String, u64)>,
    counts: SyncCounts,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl SyncView {
    pub async fn read(state: &AppState) -> Result<SyncView, ApiError> {
        let counts = state.store.sync_counts().await?;
        let lag_seconds = write_behind_lag(
            counts.dirty_since.as_deref(),
            counts.inflight_since.as_deref(),
            Utc::now(),
        );
        let lease = counts.lease.as_deref().and_then(|l| {
            let (holder, token) = l.rsplit_once('|')?;
            Some((holder.to_owned(), token.parse().ok()?))
        });
        Ok(SyncView {
            status: counts.status.clone(),
            pending: counts.pending,
            lag_seconds,
            lease,
            counts,
        })
    }

    /// Rows in Redis by type (tasks have no set of all ids: counted from
    /// every user's task set, a round trip more).
    pub async fn rows(&self, state: &AppState) -> Result<Counts, ApiError> {
        Ok(Counts {
            users: self.counts.users,
            groups: self.counts.groups,
            tasks: state.store.task_count().await?,
            webhooks: self.counts.webhooks,
        })
    }
}

impl SyncView {
    /// PostgreSQL's state as a running syncd last saw it: `connected`,
    /// `error`, or `unknown` when no syncd runs.
    pub fn postgres_state(&self) -> String {
        match &self.status {
            Some(s) if self.running() => s.postgres_status.clone(),
            _ => "unknown".to_owned(),
        }
    }

    /// A syncd whose heartbeat is recent.
    pub fn running(&self) -> bool {
        self.status
            .as_ref()
            .and_then(|s| parse_time(&s.heartbeat_at))
            .is_some_and(|at| (Utc::now() - at).num_seconds() < 3 * HEARTBEAT_SECS as i64 + 1)
    }

    /// The reference's seven sync keys. Healthy means: running, the last
    /// flush did not fail, and nothing has waited longer than two intervals
    /// (an idle system is healthy, unlike in the reference).
    pub fn summary(&self) -> SyncSummary {
        let running = self.running();
        let status = self.status.as_ref();
        let last_sync = status.and_then(|s| s.last_sync.clone());
        let since = last_sync
            .as_deref()
            .and_then(parse_time)
            .map(|t| (Utc::now() - t).to_std().unwrap_or_default());
        let interval = status.map(|s| Duration::from_secs(s.interval_secs));
        let dirty_types: Vec<&str> = [
            ("users", self.pending.users),
            ("groups", self.pending.groups),
            ("tasks", self.pending.tasks),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| t)
        .collect();
        let fresh = match (since, interval) {
            (Some(since), Some(interval)) => since <= interval * 2,
            _ => false,
        };
        let healthy = running
            && status.and_then(|s| s.last_result.as_deref()) != Some("error")
            && (self.pending.total() == 0 || fresh);
        SyncSummary {
            dirty_types,
            healthy,
            interval: status.map(|s| s.interval.clone()),
            last_sync: last_sync.unwrap_or_else(|| NEVER.to_owned()),
            pending_changes: self.pending.total() > 0,
            running,
            time_since_last_sync: since.map(taskmaster_shared::duration::format_go),
        }
    }
}
