//! Attempt counters in Redis: the login limiter's and the owner
//! password's (`P limit:*`, see the key layout), counted with the rate
//! limiter's GCRA (`lua/gcra.lua`): a counter allowing `n` attempts per
//! window lets `n` through at once, then one more every window / `n`.
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

/// A limiter script: `lua/gcra.lua`, then the file's own steps.
macro_rules! with_gcra {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/gcra.lua"),
                "\n",
                include_str!($file)
            ))
        })
    };
}

static COUNT: LazyLock<Script> = with_gcra!("lua/limit_count.lua");
static GIVE_BACK: LazyLock<Script> = with_gcra!("lua/limit_give_back.lua");

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
    /// counter, `None` when the attempt was let through, or how long until
    /// one would be.
    pub async fn count_attempt(
        &self,
        counters: &[(Counter, u32)],
        window: Duration,
    ) -> Result<Vec<Option<Duration>>, StoreError> {
        let mut inv = COUNT.prepare_invoke();
        for (counter, _) in counters {
            inv.key(self.counter_key(*counter));
        }
        for (_, limit) in counters {
            inv.arg(interval_ms(*limit, window)).arg((*limit).max(1));
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

    /// Which of `counters` (each with the attempts it allows per
    /// `window`) would refuse an attempt now, and for how long; counts
    /// nothing. A counter's key lives exactly until its theoretical
    /// arrival time, so its TTL alone tells: it refuses while that time is
    /// more than its burst, less one interval, ahead.
    pub async fn over_limit(
        &self,
        counters: &[(Counter, u32)],
        window: Duration,
    ) -> Result<Vec<Option<Duration>>, StoreError> {
        let mut pipe = redis::pipe();
        for (counter, _) in counters {
            pipe.cmd("PTTL").arg(self.counter_key(*counter));
        }
        let ttls: Vec<i64> = self.query(&pipe).await?;
        if ttls.len() != counters.len() {
            return Err(StoreError::Malformed("attempt counts"));
        }
        Ok(counters
            .iter()
            .zip(ttls)
            .map(|((_, limit), ttl)| {
                let interval = interval_ms(*limit, window);
                let free = interval * u64::from((*limit).max(1) - 1);
                u64::try_from(ttl)
                    .ok()
                    .filter(|ttl| *ttl > free)
                    .map(|ttl| Duration::from_millis(ttl - free))
            })
            .collect())
    }

    /// Gives back one attempt counted on `counter`, which allows `limit`
    /// per `window` (the attempt succeeded).
    pub async fn give_back(
        &self,
        counter: Counter,
        limit: u32,
        window: Duration,
    ) -> Result<(), StoreError> {
        let mut inv = GIVE_BACK.prepare_invoke();
        inv.key(self.counter_key(counter))
            .arg(interval_ms(limit, window));
        self.eval(&inv).await.map(drop)
    }
}

/// The steady spacing of `limit` attempts per `window`, in ms.
fn interval_ms(limit: u32, window: Duration) -> u64 {
    (window.as_millis() as u64 / u64::from(limit.max(1))).max(1)
}
