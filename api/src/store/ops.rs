//! Operational reads and writes: liveness, the maintenance flag, the
//! write-behind's counts, the control channel to syncd, and the owner
//! account's bootstrap.

use redis::Value;
use taskmaster_shared::control::{self, CallError, ControlReply, Counts, SyncdStatus};
use taskmaster_shared::domain::{Email, UserId};
use taskmaster_shared::keys::RowType;
use taskmaster_shared::redis_pool;

use super::scripts::SCRIPTS;
use super::value::{string, u64_of};
use super::{Store, StoreError, Written};

/// What Redis says about the write-behind right now.
pub struct SyncCounts {
    /// syncd's status record (`None`: missing, expired or unreadable).
    pub status: Option<SyncdStatus>,
    /// Rows waiting for syncd (dirty plus in flight).
    pub pending: Counts,
    pub users: u64,
    pub groups: u64,
    pub webhooks: u64,
    /// `P dirty:since` and `P inflight:since`: when the oldest waiting
    /// change was made (see `write_behind_lag`).
    pub dirty_since: Option<String>,
    pub inflight_since: Option<String>,
    /// The lease's holder and fencing token (`{instance}|{token}`).
    pub lease: Option<String>,
}

/// What bootstrap found of the owner account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapState {
    /// Created just now.
    Created,
    /// Made at an earlier start.
    Exists,
    /// `OWNER_EMAIL` already had an account, which is now the owner's.
    Adopted,
}

/// The owner account after [`Store::bootstrap_owner`].
#[derive(Debug, Clone)]
pub struct BootstrapOutcome {
    pub state: BootstrapState,
    pub id: UserId,
    /// The hash bootstrap gave the account (empty when not known).
    pub given: String,
    /// The account's hash now.
    pub current: String,
}

impl Store {
    /// A PING, on the shared multiplexed connection like every request
    /// (holding a pooled connection for it made concurrent checks queue).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.query_one(&redis::cmd("PING")).await
    }

    /// Whether `P maintenance` is set (a restore is running).
    pub async fn maintenance(&self) -> Result<bool, StoreError> {
        self.query_one(redis::cmd("EXISTS").arg(self.keys.maintenance()))
            .await
    }

    /// The owner account's id (`P meta:owner`), if there is one: what the
    /// owner header acts as where an account is recorded (a task's
    /// `created_by`).
    pub async fn owner_account(&self) -> Result<Option<UserId>, StoreError> {
        let id: Option<String> = self
            .query_one(
                redis::cmd("HGET")
                    .arg(self.keys.owner_bootstrap())
                    .arg("id"),
            )
            .await?;
        Ok(id.as_deref().and_then(UserId::parse))
    }

    /// syncd's status record, the pending rows per type and the user and
    /// group counts, in one round trip.
    pub async fn sync_counts(&self) -> Result<SyncCounts, StoreError> {
        let keys = &self.keys;
        let mut pipe = redis::pipe();
        pipe.get(keys.syncd_status());
        for t in RowType::ALL {
            pipe.scard(keys.dirty(t)).scard(keys.inflight(t));
        }
        pipe.scard(keys.all(RowType::User))
            .scard(keys.all(RowType::Group))
            .scard(keys.all(RowType::Webhook))
            .get(keys.dirty_since())
            .get(keys.inflight_since())
            .get(keys.syncd_lease());
        let mut replies: Vec<Value> = self.query(&pipe).await?;
        let text = |v: Option<Value>| match v {
            Some(Value::BulkString(raw)) => String::from_utf8(raw).ok(),
            _ => None,
        };
        let lease = text(replies.pop());
        let inflight_since = text(replies.pop());
        let dirty_since = text(replies.pop());
        let status = match replies.first() {
            Some(Value::BulkString(raw)) => serde_json::from_slice::<SyncdStatus>(raw).ok(),
            _ => None,
        };
        let n: Vec<u64> = replies
            .iter()
            .skip(1)
            .map(|v| u64_of(v).unwrap_or(0))
            .collect();
        let at = |i: usize| n.get(i).copied().unwrap_or(0);
        Ok(SyncCounts {
            status,
            pending: Counts {
                users: at(0) + at(1),
                groups: at(2) + at(3),
                tasks: at(4) + at(5),
                webhooks: at(6) + at(7),
            },
            users: at(8),
            groups: at(9),
            webhooks: at(10),
            dirty_since,
            inflight_since,
            lease,
        })
    }

    /// Publishes one control request to syncd and waits up to `wait` for
    /// its single answer (see [`control::call`]).
    pub async fn control_call(
        &self,
        request: (String, control::Action),
        wait: std::time::Duration,
    ) -> Result<ControlReply, CallError> {
        let mut conn = redis_pool::shared(&self.pool).await.map_err(|_| {
            CallError::Redis(redis::RedisError::from((
                redis::ErrorKind::Io,
                "timed out waiting for a redis connection",
            )))
        })?;
        control::call(
            &self.client,
            &mut conn,
            &self.keys,
            request,
            self.control_secret.expose().as_bytes(),
            wait,
            |_| {},
        )
        .await
    }

    /// Where Redis is, as the api reaches it: `host:port` (or the socket's
    /// path) and the database number; never the password.
    pub fn redis_target(&self) -> (String, i64) {
        let info = self.client.get_connection_info();
        let address = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port)
            | redis::ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port}"),
            redis::ConnectionAddr::Unix(path) => path.display().to_string(),
            _ => "unknown".to_owned(),
        };
        (address, info.redis_settings().db())
    }

    /// Creates the owner account once, ever (`P meta:owner` remembers it),
    /// or adopts the account that holds its email.
    pub async fn bootstrap_owner(
        &self,
        email: &str,
        password_hash: &str,
        now: &str,
    ) -> Result<BootstrapOutcome, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.bootstrap_owner, now);
        inv.arg(Email::key_of(email)).arg(email).arg(password_hash);
        let items = self
            .write(&inv)
            .await?
            .map_err(|_| StoreError::Malformed("bootstrap refused"))?;
        let text: Vec<String> = items.iter().filter_map(string).collect();
        let [state, id, given, current] = text.as_slice() else {
            return Err(StoreError::Malformed("bootstrap reply"));
        };
        let state = match state.as_str() {
            "CREATED" => BootstrapState::Created,
            "EXISTS" => BootstrapState::Exists,
            "ADOPTED" => BootstrapState::Adopted,
            _ => return Err(StoreError::Malformed("bootstrap state")),
        };
        let id = id
            .parse()
            .map(UserId)
            .map_err(|_| StoreError::Malformed("bootstrap id"))?;
        Ok(BootstrapOutcome {
            state,
            id,
            given: given.clone(),
            current: current.clone(),
        })
    }

    /// Gives the owner account `new_hash`, only while it still has
    /// `expected` (the password bootstrap gave it).
    pub async fn rotate_owner_password(
        &self,
        id: UserId,
        expected: &str,
        new_hash: &str,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.rotate_owner_password, now);
        inv.arg(id.get()).arg(expected).arg(new_hash);
        Ok(self.write(&inv).await?.map(|_| ()))
    }

    /// Records `hash` as the password bootstrap gave the (adopted) owner
    /// account, unless the adoption or the password changed meanwhile.
    pub async fn remember_owner_password(
        &self,
        id: UserId,
        hash: &str,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.remember_owner_password, now);
        inv.arg(id.get()).arg(hash);
        Ok(self.write(&inv).await?.map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::config::{ApiConfig, lookup_from_pairs};

    fn store(vars: &[(&str, &str)]) -> Store {
        let config = ApiConfig::from_lookup(lookup_from_pairs(vars)).expect("valid configuration");
        Store::new(&config.redis).expect("store builds")
    }

    #[tokio::test]
    async fn the_redis_target_shows_address_and_database_never_the_password() {
        for (vars, address, db) in [
            (
                vec![("REDIS_URL", "redis://:s3cr3t@10.0.0.7:6390/3")],
                "10.0.0.7:6390",
                3,
            ),
            (
                vec![("REDIS_URL", "redis://admin:s3cr3t@cache.local/0")],
                "cache.local:6379",
                0,
            ),
            (
                vec![("REDIS_URL", "unix:///run/redis/redis.sock?db=2&pass=s3cr3t")],
                "/run/redis/redis.sock",
                2,
            ),
            (
                vec![
                    ("REDIS_HOST", "r.example"),
                    ("REDIS_PORT", "6401"),
                    ("REDIS_DB", "5"),
                    ("REDIS_PASSWORD", "s3cr3t"),
                ],
                "r.example:6401",
                5,
            ),
        ] {
            let (got, got_db) = store(&vars).redis_target();
            assert_eq!((got.as_str(), got_db), (address, db), "{vars:?}");
            assert!(!got.contains("s3cr3t"));
        }
    }
}
