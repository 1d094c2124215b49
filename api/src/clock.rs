//! The time every write stamps and answers.

/// The current time as stored and answered (RFC 3339 UTC, microseconds).
pub fn now() -> String {
    taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros())
}

/// The current time in Unix milliseconds, as session records keep it.
pub fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// Today's date in the server's time zone: `TZ` when it is set (a zone
/// name from the system's zone database, as every Unix program reads it),
/// UTC otherwise, whatever `/etc/localtime` says. Overdue tasks and the
/// `due=` filters are judged on it.
pub fn today() -> chrono::NaiveDate {
    if std::env::var_os("TZ").is_some_and(|tz| !tz.is_empty()) {
        chrono::Local::now().date_naive()
    } else {
        chrono::Utc::now().date_naive()
    }
}
