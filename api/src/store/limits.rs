//! Attempt counters in Redis: the login limiter's and the owner
//! password's (`P limit:*`, see the key layout).
//!
//! The counts live in Redis, not in a process, so that one limit holds for
//! every shard and every api instance. They are not durable data: they
//! expire with their window, are never written behind, and a restore or a
//! Redis restart may forget them.

use std::net::IpAddr;
use std::time::Duration;

use redis::Script;
use std::sync::LazyLock;
use taskmaster_shared::domain::UserId;
use taskmaster_shared::hex::hex;

use super::{Store, StoreError};

static COUNT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/limit_count.lua")));
static GIVE_BACK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/limit_give_back.lua")));

/// One attempt counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Logins to one account, whether sent as its id or its email.
    Account(UserId),
    /// Logins to a name with no account, by a digest of the name.
    Login([u8; 16]),
    /// Wrong owner passwords from one client address.
    OwnerFrom(IpAddr),
    /// Wrong owner passwords from anywhere.
    OwnerAll,
}

impl Store {
    fn counter_key(&self, counter: Counter) -> String {
        match counter {
            Counter::Account(id) => self.keys.limit_account(id.get()),
            Counter::Login(digest) => self.keys.limit_login(&hex(&digest)),
            Counter::OwnerFrom(ip) => self.keys.limit_owner(Some(ip)),
            Counter::OwnerAll => self.keys.limit_owner(None),
        }
    }

    /// Counts one attempt on each of `counters` (each with the number of
    /// attempts it allows per `window`), in one atomic step. Returns, per
    /// counter, `None` while within its limit, or how long it stays over.
    pub async fn count_attempt(
        &self,
        counters: &[(Counter, u32)],
        window: Duration,
    ) -> Result<Vec<Option<Duration>>, StoreError> {
        let mut inv = COUNT.prepare_invoke();
        for (counter, _) in counters {
            inv.key(self.counter_key(*counter));
        }
        inv.arg(window.as_millis() as u64);
        for (_, limit) in counters {
            inv.arg(*limit);
        }
        let waits: Vec<u64> = redis::from_redis_value(self.eval(&inv).await?)
            .map_err(|_| StoreError::Malformed("attempt counts"))?;
        if waits.len() != counters.len() {
            return Err(StoreError::Malformed("attempt counts"));
        }
        Ok(waits
            .into_iter()
            .map(|ms| (ms > 0).then(|| Duration::from_millis(ms)))
            .collect())
    }

    /// Which of `counters` (each with the attempts it allows) are over
    /// their limit now, and for how long; counts nothing.
    pub async fn over_limit(
        &self,
        counters: &[(Counter, u32)],
    ) -> Result<Vec<Option<Duration>>, StoreError> {
        let mut pipe = redis::pipe();
        for (counter, _) in counters {
            let key = self.counter_key(*counter);
            pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
        }
        let replies: Vec<Option<i64>> = self.query(&pipe).await?;
        if replies.len() != counters.len() * 2 {
            return Err(StoreError::Malformed("attempt counts"));
        }
        Ok(counters
            .iter()
            .zip(replies.chunks(2))
            .map(|((_, limit), pair)| {
                let count = pair[0].unwrap_or(0);
                let ttl = pair[1].unwrap_or(-2);
                (count > i64::from(*limit) && ttl > 0).then(|| Duration::from_millis(ttl as u64))
            })
            .collect())
    }

    /// Gives back one attempt counted on `counter` (it succeeded).
    pub async fn give_back(&self, counter: Counter) -> Result<(), StoreError> {
        let mut inv = GIVE_BACK.prepare_invoke();
        inv.key(self.counter_key(counter));
        self.eval(&inv).await.map(drop)
    }
}
