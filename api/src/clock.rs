//! The time every write stamps and answers.

/// The current time as stored and answered (RFC 3339 UTC, microseconds).
pub fn now() -> String {
    taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros())
}

/// The current time in Unix milliseconds, as session records keep it.
pub fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}
