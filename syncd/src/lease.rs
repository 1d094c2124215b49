//! The lease: exactly one syncd is active. `P syncd:lease` (SET with a
//! TTL, renewed by the heartbeat) names the active instance and carries a
//! fencing token from `P syncd:fence`; see `docs/design.md`.
//!
//! Both scripts are called through [`crate::store::Store`]:
//! `lua/lease.lua` takes or renews the lease, `lua/release.lua` gives it up
//! at shutdown.

use std::time::Duration;

use taskmaster_shared::control::HEARTBEAT_SECS;

use crate::daemon::Daemon;

/// A spawned task that ends with its owner.
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Daemon {
    /// Takes or renews the lease; logs changes of role.
    pub(crate) async fn renew_lease(&mut self) {
        let token = self.syncd.store.renew_lease(&self.instance).await;
        match (self.token, token) {
            (None, Ok(t)) if t > 0 => {
                tracing::info!(sync.token = t, "this syncd is now the active one");
                self.token = Some(t);
                self.flush_due = true;
            }
            (Some(_), Ok(0)) => {
                tracing::warn!("lost the lease to another syncd; standing by");
                self.token = None;
            }
            (_, Ok(t)) if t > 0 => self.token = Some(t),
            (_, Ok(_)) => {}
            // Redis unreachable: keep the role; the lease's TTL decides.
            (_, Err(e)) => tracing::warn!(error = %e, "cannot renew the lease"),
        }
    }

    /// Gives the lease up at shutdown, so a standby takes over at once.
    pub(crate) async fn release_lease(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        if let Err(e) = self.syncd.store.release_lease(&self.instance, token).await {
            tracing::warn!(error = %e, "cannot release the lease; a standby takes over when it expires");
        }
    }

    /// Keeps the lease and the status record alive while a long action
    /// holds the loop (a flush of a big backlog, a backup, a restore), so
    /// no standby takes over meanwhile. Stops when dropped.
    pub(crate) fn keepalive(&self) -> AbortOnDrop {
        let store = self.syncd.store.clone();
        let instance = self.instance.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut timer = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECS));
            timer.tick().await;
            loop {
                timer.tick().await;
                if let Ok(0) = store.renew_lease(&instance).await {
                    tracing::warn!("lost the lease during a long operation");
                }
                taskmaster_shared::systemd::watchdog();
                let _ = store.touch_status().await;
            }
        }))
    }
}
