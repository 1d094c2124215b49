//! Messages between the api (and operators) and syncd.
//!
//! * Control requests are published as JSON [`ControlRequest`] on the
//!   channel `P control`; syncd answers each exactly once with a
//!   [`ControlReply`] on the request's `reply_to` channel
//!   (`P control:reply:{id}`). Actions: `force` (flush now), `status`,
//!   `backup` (flush, then write a backup file), `restore` (args
//!   `discard_pending`, `from`: rebuild Redis from PostgreSQL, or from a
//!   backup file first); anything else is an error.
//! * While a restore runs, syncd keeps `P maintenance` set (JSON
//!   `{"since","reason"}`): the api answers data requests 503 with
//!   `Retry-After`, and the write scripts refuse.
//! * syncd's heartbeat writes a [`SyncdStatus`] as JSON to `P syncd:status`
//!   with a TTL of [`STATUS_TTL_SECS`]: a missing key means no syncd runs.

use serde::{Deserialize, Serialize};

/// How often syncd refreshes its status.
pub const HEARTBEAT_SECS: u64 = 2;
/// The status key's TTL: a few missed heartbeats and it is gone.
pub const STATUS_TTL_SECS: u64 = 10;
/// The lease's TTL: a standby takes over this long after the active syncd
/// stopped renewing it.
pub const LEASE_TTL_MS: u64 = 6_000;
/// How often every api instance checks the `maintenance` key.
pub const MAINTENANCE_POLL_MS: u64 = 100;
/// How long syncd waits after raising `maintenance` before it changes
/// anything, so every api instance has seen the flag (several polls).
pub const MAINTENANCE_SETTLE_MS: u64 = 500;
/// What the api tells clients to wait during maintenance (`Retry-After`).
pub const MAINTENANCE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRequest {
    pub id: String,
    pub action: String,
    #[serde(default)]
    pub args: serde_json::Value,
    pub reply_to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlReply {
    pub id: String,
    pub ok: bool,
    #[serde(default)]
    pub result: serde_json::Value,
    #[serde(default)]
    pub error: Option<String>,
    /// Set when the action exists in the protocol but not yet in syncd.
    #[serde(default)]
    pub unsupported: bool,
    /// Set when the action was refused and nothing was changed (the error
    /// says why and what to do).
    #[serde(default)]
    pub refused: bool,
}

/// Rows per type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub users: u64,
    pub groups: u64,
    pub tasks: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.users + self.groups + self.tasks
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
}
