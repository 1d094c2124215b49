//! The lease: exactly one syncd is active. `P syncd:lease` (SET with a
//! TTL, renewed by the heartbeat) names the active instance and carries a
//! fencing token from `P syncd:fence`; see `docs/design.md`.
//!
//! Both scripts are here: `lua/lease.lua` takes or renews the lease,
//! `lua/release.lua` gives it up at shutdown.

use std::sync::LazyLock;
use std::time::Duration;

use taskmaster_shared::control::{HEARTBEAT_SECS, LEASE_TTL_MS, STATUS_TTL_SECS};
use taskmaster_shared::keys::Keys;
use taskmaster_shared::redis_pool::{self, RedisPool};

use crate::daemon::Daemon;

static LEASE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/lease.lua")));
static RELEASE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/release.lua")));

/// Takes or renews the lease for `instance`: its fencing token, or 0 when
/// another instance holds it.
async fn renew(redis: &RedisPool, keys: &Keys, instance: &str) -> Result<u64, redis::RedisError> {
    let mut conn = redis_pool::shared(redis).await.map_err(|_| {
        redis::RedisError::from((redis::ErrorKind::Io, "timed out waiting for a connection"))
    })?;
    LEASE
        .arg(keys.prefix())
        .arg(instance)
        .arg(LEASE_TTL_MS)
        .invoke_async(&mut conn)
        .await
}

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
        let token = renew(&self.syncd.redis, &self.syncd.keys, &self.instance).await;
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
        let Ok(mut conn) = redis_pool::shared(&self.syncd.redis).await else {
            return;
        };
        let ours = format!("{}|{token}", self.instance);
        let _: Result<i64, _> = RELEASE
            .key(self.syncd.keys.syncd_lease())
            .arg(ours)
            .invoke_async(&mut conn)
            .await;
    }

    /// Keeps the lease and the status record alive while a long action
    /// holds the loop (a flush of a big backlog, a backup, a restore), so
    /// no standby takes over meanwhile. Stops when dropped.
    pub(crate) fn keepalive(&self) -> AbortOnDrop {
        let redis = self.syncd.redis.clone();
        let keys = self.syncd.keys.clone();
        let instance = self.instance.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut timer = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECS));
            timer.tick().await;
            loop {
                timer.tick().await;
                if let Ok(0) = renew(&redis, &keys, &instance).await {
                    tracing::warn!("lost the lease during a long operation");
                }
                taskmaster_shared::systemd::watchdog();
                let Ok(mut conn) = redis_pool::shared(&redis).await else {
                    continue;
                };
                let _: Result<(), _> = redis::cmd("EXPIRE")
                    .arg(keys.syncd_status())
                    .arg(STATUS_TTL_SECS)
                    .query_async(&mut conn)
                    .await;
            }
        }))
    }
}
