//! syncd's status record, `P syncd:status` (JSON with a TTL of
//! [`super::STATUS_TTL_SECS`], rewritten every [`super::HEARTBEAT_SECS`]):
//! what `/admin/status` and `taskmaster-ctl status` show.

use serde::{Deserialize, Serialize};

/// Rows per type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counts {
    pub users: u64,
    pub groups: u64,
    pub tasks: u64,
    /// Absent from records written before webhooks existed.
    #[serde(default)]
    pub webhooks: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.users + self.groups + self.tasks + self.webhooks
    }
}

/// syncd's status record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncdStatus {
    pub instance: String,
    pub pid: u32,
    pub host: String,
    /// `15m0s`.
    pub interval: String,
    pub interval_secs: u64,
    /// RFC 3339, absent before the first successful flush.
    pub last_sync: Option<String>,
    /// `ok` or `error`, absent before the first flush.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub last_rows: u64,
    pub last_rows_per_sec: f64,
    /// Rows waiting (dirty plus in flight).
    pub pending: Counts,
    /// Rows in PostgreSQL, as of the last flush or start.
    pub postgres_rows: Option<Counts>,
    /// `connected` or `error`.
    pub postgres_status: String,
    pub redis_status: String,
    /// RFC 3339 time of this heartbeat.
    pub heartbeat_at: String,
    /// The last backup this daemon wrote: `{file, created_at, size_bytes,
    /// sha256, rows}`.
    #[serde(default)]
    pub last_backup: Option<serde_json::Value>,
    /// Which PostgreSQL this daemon writes to (never its credentials);
    /// absent from records written before it was added.
    #[serde(default)]
    pub postgres_target: Option<PostgresTarget>,
    /// The audit log's backlog: change log entries not yet appended to
    /// PostgreSQL (it grows while PostgreSQL is down); absent when Redis
    /// could not say.
    #[serde(default)]
    pub audit: Option<AuditBacklog>,
    /// The newest backup files in `BACKUP_DIR`, newest first (at most
    /// [`RECENT_BACKUPS`]); absent from records written before it was added.
    #[serde(default)]
    pub backups: Vec<BackupFile>,
}

/// How many backup files the status record lists.
pub const RECENT_BACKUPS: usize = 5;

/// A backup file, as the status record lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupFile {
    pub file: String,
    pub size_bytes: u64,
    /// RFC 3339 time the file was last written.
    pub modified_at: String,
}

/// Change log entries the audit log has not appended yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditBacklog {
    /// Entries not yet read by the audit consumer.
    pub lag: u64,
    /// Entries read and not yet acknowledged (appended, or being).
    pub pending: u64,
    /// The two together.
    pub backlog: u64,
}

/// Where syncd's PostgreSQL is, as `/admin/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostgresTarget {
    /// Host name, address, or Unix socket directory.
    pub host: String,
    pub port: u16,
    pub database: String,
}

/// The write-behind lag: seconds since the oldest change not yet in
/// PostgreSQL, from `P dirty:since` and `P inflight:since` (RFC 3339;
/// either may be missing). 0 when nothing waits.
pub fn write_behind_lag(
    dirty_since: Option<&str>,
    inflight_since: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> f64 {
    [dirty_since, inflight_since]
        .into_iter()
        .flatten()
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .min()
        .map_or(0.0, |oldest| {
            (now - oldest).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6
        })
}

#[cfg(test)]
mod lag_tests {
    use super::write_behind_lag;

    #[test]
    fn the_lag_runs_from_the_older_of_the_two_marks() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:01:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let table = [
            (None, None, 0.0),
            (Some("2026-01-01T00:00:30Z"), None, 30.0),
            (None, Some("2026-01-01T00:00:59.5Z"), 0.5),
            (
                Some("2026-01-01T00:00:50Z"),
                Some("2026-01-01T00:00:10Z"),
                50.0,
            ),
            (Some("garbage"), Some("2026-01-01T00:00:45Z"), 15.0),
            // A clock a little ahead on the writer's side is no negative lag.
            (Some("2026-01-01T00:01:02Z"), None, 0.0),
        ];
        for (dirty, inflight, lag) in table {
            assert_eq!(
                write_behind_lag(dirty, inflight, now),
                lag,
                "{dirty:?} {inflight:?}"
            );
        }
    }
}
