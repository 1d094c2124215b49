//! SIGTERM and SIGINT, merged into one future.
//!
//! Both daemons stop the same way: the first signal starts a graceful
//! shutdown bounded by `SHUTDOWN_GRACE`; there is no second-signal escalation
//! because systemd (or the operator) follows up with SIGKILL anyway.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

/// Installs the handlers now (call it first thing, inside the runtime, so a
/// signal that arrives while the process is still starting is not lost or
/// fatal) and returns a future that resolves on the first SIGTERM or
/// SIGINT, with the signal's name.
pub fn signal_received() -> impl Future<Output = &'static str> + Send + 'static {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            // Without signal handlers there is nothing to wait for; never
            // resolve rather than shut down at once.
            _ => std::future::pending().await,
        }
    }
}
