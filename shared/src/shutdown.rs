//! SIGTERM and SIGINT, merged into one future.
//!
//! Both daemons stop the same way: the first signal starts a graceful
//! shutdown bounded by `SHUTDOWN_GRACE`; there is no second-signal escalation
//! because systemd (or the operator) follows up with SIGKILL anyway.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves on the first SIGTERM or SIGINT. Returns the signal's name.
pub async fn signal_received() -> &'static str {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        // Without signal handlers there is nothing to wait for; never resolve
        // rather than shut down at once.
        _ => std::future::pending().await,
    }
}
