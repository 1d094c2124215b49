//! The time every write stamps and answers.

/// The current time as stored and answered (RFC 3339 UTC, microseconds).
pub fn now() -> String {
    taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros())
}
