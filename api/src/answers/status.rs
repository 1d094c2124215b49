//! `GET /status/data`: what the status page shows.

use serde::Serialize;
use taskmaster_shared::control::{BackupFile, Counts};
use utoipa::ToSchema;

use crate::metrics::TotalsView;

/// The status page's data: this api process's request totals (the page
/// turns two polls into rates and quantiles), and the write-behind as
/// Redis and syncd's status record say.
#[derive(Serialize, ToSchema)]
pub struct StatusData {
    /// RFC 3339 time of this answer.
    pub at: String,
    /// This api process's requests since it started.
    pub api: TotalsView,
    pub sync: SyncPanel,
    /// `connected` (this answer came through Redis).
    pub redis: &'static str,
    /// `connected`, `error`, or `unknown` (no syncd reports).
    pub postgres: String,
    /// The newest backup files, newest first (from syncd's status).
    pub backups: Vec<BackupFile>,
}

/// The write-behind.
#[derive(Serialize, ToSchema)]
pub struct SyncPanel {
    /// A syncd's heartbeat is recent.
    pub running: bool,
    /// As `/admin/status` judges it.
    pub healthy: bool,
    /// Seconds since the oldest change not yet in PostgreSQL.
    pub lag_seconds: f64,
    /// Rows waiting, by type.
    pub pending: Counts,
    /// RFC 3339 time of the last successful flush, if any.
    pub last_sync: Option<String>,
    /// `ok` or `error`.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    /// Rows the last flush that wrote any wrote.
    pub last_rows: u64,
    /// `15m0s`.
    pub interval: Option<String>,
    /// The syncd instance that holds the lease.
    pub lease_holder: Option<String>,
    pub fencing_token: Option<u64>,
}
