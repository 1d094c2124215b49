//! systemd integration (`Type=notify`): `READY=1` once a process serves,
//! `STOPPING=1` when it begins to shut down, and watchdog pings.
//!
//! Every function is a no-op outside systemd (no `NOTIFY_SOCKET`), so the
//! processes behave the same under a plain shell, docker or the tests.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the process is ready, with a one-line status.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the process is shutting down.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// One watchdog ping.
pub fn watchdog() {
    notify(&[NotifyState::Watchdog]);
}

/// How often to ping when systemd's watchdog is on (`WatchdogSec=`): half
/// its timeout, as sd_watchdog_enabled(3) advises.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}

fn notify(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
