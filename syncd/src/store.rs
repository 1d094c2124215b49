//! syncd's Redis commands outside the write-behind and the rebuild (which
//! are [`crate::flush`] and [`crate::restore`], each one Redis job): the
//! lease, the status record, the maintenance flag, control answers.
//! Every key comes from [`Keys`].

use std::sync::LazyLock;

use taskmaster_shared::control::{AuditBacklog, Counts, LEASE_TTL_MS, STATUS_TTL_SECS};
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::position::Position;
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
    ///
    /// A group's `lag` is Redis's count of entries added minus entries the
    /// group read, and that count does not survive every restart: after a
    /// `kill -9` and a reload from the append-only file the fault run saw
    /// an audit lag of 28,287 that never went down, on a group that had
    /// read the last entry. So a group that has read the last entry has no
    /// lag, and a lag is never more than the log holds ([`lag`]).
    pub async fn change_log(&self) -> Result<ChangeLogState, redis::RedisError> {
        type Info = std::collections::HashMap<String, redis::Value>;
        let mut conn = self.conn().await?;
        let (entries, last): (u64, Vec<(String, redis::Value)>) = redis::pipe()
            .cmd("XLEN")
            .arg(self.keys.changes())
            .cmd("XREVRANGE")
            .arg(self.keys.changes())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let last = last.first().and_then(|(id, _)| Position::parse(id));
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
            Some(redis::Value::Int(n)) => Some((*n).max(0) as u64),
            _ => None,
        };
        let backlog = |name: &str| {
            let group = groups.iter().find(|g| {
                matches!(g.get("name"), Some(redis::Value::BulkString(n)) if n == name.as_bytes())
            });
            group.map_or_else(AuditBacklog::default, |g| {
                let delivered = match g.get("last-delivered-id") {
                    Some(redis::Value::BulkString(id)) => {
                        std::str::from_utf8(id).ok().and_then(Position::parse)
                    }
                    _ => None,
                };
                let lag = lag(number(g, "lag"), delivered, last, entries);
                let pending = number(g, "pending").unwrap_or(0);
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

    /// Sets `P maintenance` to JSON `{"since","reason"}` and answers that
    /// value: `since` is to the microsecond, so each setting is its own,
    /// and only its setter lifts it ([`Store::clear_maintenance`]).
    pub async fn set_maintenance(&self, reason: &str) -> Result<String, redis::RedisError> {
        let value = serde_json::json!({
            "since": taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros()),
            "reason": reason,
        })
        .to_string();
        let () = redis::cmd("SET")
            .arg(self.keys.maintenance())
            .arg(&value)
            .query_async(&mut self.conn().await?)
            .await?;
        Ok(value)
    }

    /// Clears `P maintenance` if it still holds `value`, the one this
    /// daemon set (`lua/release.lua`): a daemon that lost its lease midway
    /// (and with it the rebuild to a new holder, who set its own flag)
    /// must not lift the flag from under the new holder's rebuild.
    pub async fn clear_maintenance(&self, value: &str) -> Result<(), redis::RedisError> {
        let _: i64 = RELEASE
            .key(self.keys.maintenance())
            .arg(value)
            .invoke_async(&mut self.conn().await?)
            .await?;
        Ok(())
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

/// A consumer group's lag: none once it has read the log's `last` entry;
/// otherwise Redis's figure (`reported`, absent when Redis cannot tell),
/// never more than the `entries` the log holds.
fn lag(
    reported: Option<u64>,
    delivered: Option<Position>,
    last: Option<Position>,
    entries: u64,
) -> u64 {
    match (delivered, last) {
        (_, None) => 0,
        (Some(d), Some(l)) if d >= l => 0,
        _ => reported.unwrap_or(entries).min(entries),
    }
}

#[cfg(test)]
mod lag_tests {
    use super::*;

    fn at(ms: u64) -> Option<Position> {
        Position::parse(&format!("{ms}-0"))
    }

    #[test]
    fn a_group_that_read_the_last_entry_has_no_lag_whatever_redis_counts() {
        assert_eq!(lag(Some(28_287), at(5), at(5), 3_000), 0);
        assert_eq!(lag(Some(7), at(6), at(5), 3_000), 0);
    }

    #[test]
    fn a_group_behind_has_redis_lag_at_most_the_log_length() {
        assert_eq!(lag(Some(12), at(4), at(5), 3_000), 12);
        assert_eq!(lag(Some(28_287), at(4), at(5), 3_000), 3_000);
        assert_eq!(lag(None, at(4), at(5), 40), 40);
        assert_eq!(lag(Some(3), None, at(5), 40), 3);
        assert_eq!(lag(Some(3), None, None, 0), 0);
    }
}
