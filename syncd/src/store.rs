//! syncd's Redis commands outside the write-behind and the rebuild (which
//! are [`crate::flush`] and [`crate::restore`], each one Redis job): the
//! lease, the status record, the maintenance flag, control answers.
//! Every key comes from [`Keys`].

use std::sync::LazyLock;

use taskmaster_shared::control::{AuditBacklog, Counts, LEASE_TTL_MS, STATUS_TTL_SECS};
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::redis_pool::{self, RedisPool};

static LEASE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/lease.lua")));
static RELEASE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/release.lua")));

/// syncd's handle on Redis. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub redis: RedisPool,
    pub keys: Keys,
}

/// The write-behind's backlog as the heartbeat reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    pub pending: Counts,
    /// Seconds since the oldest change not yet in PostgreSQL.
    pub lag_seconds: f64,
}

/// The change log as the heartbeat reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeLogState {
    pub entries: u64,
    pub audit: AuditBacklog,
    pub webhooks: AuditBacklog,
}

impl Store {
    async fn conn(&self) -> Result<redis_pool::Conn, redis::RedisError> {
        redis_pool::shared(&self.redis).await.map_err(|_| {
            redis::RedisError::from((redis::ErrorKind::Io, "timed out waiting for a connection"))
        })
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        redis::cmd("PING")
            .query_async(&mut self.conn().await?)
            .await
    }

    /// Takes or renews the lease for `instance` (`lua/lease.lua`): its
    /// fencing token, or 0 while another instance holds it.
    pub async fn renew_lease(&self, instance: &str) -> Result<u64, redis::RedisError> {
        LEASE
            .arg(self.keys.prefix())
            .arg(instance)
            .arg(LEASE_TTL_MS)
            .invoke_async(&mut self.conn().await?)
            .await
    }

    /// Gives the lease up, only while `instance` still holds it with
    /// `token` (`lua/release.lua`).
    pub async fn release_lease(&self, instance: &str, token: u64) -> Result<(), redis::RedisError> {
        let _: i64 = RELEASE
            .key(self.keys.syncd_lease())
            .arg(format!("{instance}|{token}"))
            .invoke_async(&mut self.conn().await?)
            .await?;
        Ok(())
    }

    /// The change log's length and what its two consumers (the audit log
    /// and webhook deliveries, see [`crate::audit`] and
    /// [`crate::webhooks`]) have not finished: zero before their consumer
    /// groups exist.
    pub async fn change_log(&self) -> Result<ChangeLogState, redis::RedisError> {
        type Info = std::collections::HashMap<String, redis::Value>;
        let mut conn = self.conn().await?;
        let entries: u64 = redis::cmd("XLEN")
            .arg(self.keys.changes())
            .query_async(&mut conn)
            .await?;
        let groups: Vec<Info> = match redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(self.keys.changes())
            .query_async(&mut conn)
            .await
        {
            Ok(g) => g,
            // No stream yet: nothing was ever written.
            Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let number = |g: &Info, f: &str| match g.get(f) {
            Some(redis::Value::Int(n)) => (*n).max(0) as u64,
            _ => 0,
        };
        let backlog = |name: &str| {
            let group = groups.iter().find(|g| {
                matches!(g.get("name"), Some(redis::Value::BulkString(n)) if n == name.as_bytes())
            });
            group.map_or_else(AuditBacklog::default, |g| {
                let (lag, pending) = (number(g, "lag"), number(g, "pending"));
                AuditBacklog {
                    lag,
                    pending,
                    backlog: lag + pending,
                }
            })
        };
        Ok(ChangeLogState {
            entries,
            audit: backlog(Keys::AUDIT_GROUP),
            webhooks: backlog(Keys::WEBHOOK_GROUP),
        })
    }

    /// Rows waiting for a flush (dirty plus in flight), per type.
    pub async fn pending(&self) -> Result<Counts, redis::RedisError> {
        Ok(self.backlog().await?.pending)
    }

    /// The write-behind's backlog in one round trip: rows waiting per type
    /// and the lag (from `P dirty:since` and `P inflight:since`).
    pub async fn backlog(&self) -> Result<Backlog, redis::RedisError> {
        let mut pipe = redis::pipe();
        for t in RowType::ALL {
            pipe.scard(self.keys.dirty(t)).scard(self.keys.inflight(t));
        }
        pipe.get(self.keys.dirty_since())
            .get(self.keys.inflight_since());
        type Replies = (
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
            Option<String>,
            Option<String>,
        );
        let (du, iu, dg, ig, dt, it, dw, iw, dirty_since, inflight_since): Replies =
            pipe.query_async(&mut self.conn().await?).await?;
        Ok(Backlog {
            pending: Counts {
                users: du + iu,
                groups: dg + ig,
                tasks: dt + it,
                webhooks: dw + iw,
            },
            lag_seconds: taskmaster_shared::control::write_behind_lag(
                dirty_since.as_deref(),
                inflight_since.as_deref(),
                chrono::Utc::now(),
            ),
        })
    }

    /// Writes the status record (JSON) with its TTL.
    pub async fn write_status(&self, json: &str) -> Result<(), redis::RedisError> {
        redis::cmd("SET")
            .arg(self.keys.syncd_status())
            .arg(json)
            .arg("EX")
            .arg(STATUS_TTL_SECS)
            .query_async(&mut self.conn().await?)
            .await
    }

    /// Extends the status record's TTL (during a long action).
    pub async fn touch_status(&self) -> Result<(), redis::RedisError> {
        redis::cmd("EXPIRE")
            .arg(self.keys.syncd_status())
            .arg(STATUS_TTL_SECS)
            .query_async(&mut self.conn().await?)
            .await
    }

    pub async fn clear_status(&self) -> Result<(), redis::RedisError> {
        redis::cmd("DEL")
            .arg(self.keys.syncd_status())
            .query_async(&mut self.conn().await?)
            .await
    }

    /// Sets `P maintenance` (JSON `{"since","reason"}`) or clears it.
    pub async fn set_maintenance(&self, on: Option<&str>) -> Result<(), redis::RedisError> {
        let key = self.keys.maintenance();
        let mut conn = self.conn().await?;
        match on {
            Some(value) => {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async(&mut conn)
                    .await
            }
            None => redis::cmd("DEL").arg(key).query_async(&mut conn).await,
        }
    }

    /// Publishes a control answer on its reply channel.
    pub async fn publish_reply(&self, reply_to: &str, json: &str) -> Result<(), redis::RedisError> {
        let _: u64 = redis::cmd("PUBLISH")
            .arg(reply_to)
            .arg(json)
            .query_async(&mut self.conn().await?)
            .await?;
        Ok(())
    }
}
