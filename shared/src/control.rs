//! Messages between the api (and operators) and syncd.
//!
//! * Control requests are published as JSON [`ControlRequest`] on the
//!   channel `P control`; syncd answers each exactly once with a
//!   [`ControlReply`] on the request's `reply_to` channel
//!   (`P control:reply:{id}`); [`call`] does both sides' waiting. Actions: `force` (flush now), `status`,
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
    /// Which PostgreSQL this daemon writes to (never its credentials);
    /// absent from records written before it was added.
    #[serde(default)]
    pub postgres_target: Option<PostgresTarget>,
}

/// Where syncd's PostgreSQL is, as `/admin/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostgresTarget {
    /// Host name, address, or Unix socket directory.
    pub host: String,
    pub port: u16,
    pub database: String,
}

/// Why [`call`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Nobody listens on the control channel: no syncd runs.
    #[error("no syncd is listening on the control channel")]
    NoDaemon,
    /// The subscription ended before the answer came.
    #[error("lost the connection to Redis while waiting for syncd")]
    Closed,
    #[error("syncd did not answer in time")]
    TimedOut,
}

/// Publishes one control request and waits up to `timeout` for its single
/// answer. The reply channel is subscribed to before the request goes out,
/// so the answer cannot be missed. `id` must be unique to this request;
/// `waiting` is called about once a second with the time waited so far
/// (for progress displays).
pub async fn call(
    client: &redis::Client,
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &crate::keys::Keys,
    request: (String, &str, serde_json::Value),
    timeout: std::time::Duration,
    mut waiting: impl FnMut(std::time::Duration),
) -> Result<ControlReply, CallError> {
    use futures_util::StreamExt;
    let (id, action, args) = request;
    let reply_to = keys.control_reply_channel(&id);
    // The deadline also bounds reaching Redis (a host that drops packets).
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let subscribed = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&reply_to).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    let mut pubsub = tokio::select! {
        pubsub = subscribed => pubsub?,
        () = &mut deadline => return Err(CallError::TimedOut),
    };
    let request = ControlRequest {
        id: id.clone(),
        action: action.to_owned(),
        args,
        reply_to,
    };
    let payload = serde_json::to_string(&request).unwrap_or_default();
    let receivers: u64 = redis::cmd("PUBLISH")
        .arg(keys.control_channel())
        .arg(payload)
        .query_async(conn)
        .await?;
    if receivers == 0 {
        return Err(CallError::NoDaemon);
    }
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut messages = pubsub.on_message();
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return Err(CallError::Closed);
                };
                let payload: String = message.get_payload().unwrap_or_default();
                if let Ok(reply) = serde_json::from_str::<ControlReply>(&payload)
                    && reply.id == id
                {
                    return Ok(reply);
                }
            }
            _ = ticker.tick() => waiting(started.elapsed()),
            () = &mut deadline => return Err(CallError::TimedOut),
        }
    }
}
