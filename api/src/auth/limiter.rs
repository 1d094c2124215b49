//! The failed-login limiter: [`MAX_FAILURES`] failures per login name
//! within [`FAILURE_WINDOW`], then 429 with `Retry-After`.
//!
//! One per process, shared by every shard (see [`crate::services`]), so
//! the limit does not multiply with the shard count. A login name is
//! counted as the user id or the case-folded email it was sent as.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per login name within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);
/// Past this many names, expired entries are dropped.
const PRUNE_AT: usize = 100_000;

#[derive(Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Limiter {
    /// How long `login` must still wait, when it is over the limit.
    pub fn blocked(&self, login: &str) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = map.get(login)?;
        let age = since.elapsed();
        (*count >= MAX_FAILURES && age < FAILURE_WINDOW).then(|| FAILURE_WINDOW - age)
    }

    pub fn record_failure(&self, login: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_AT {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = map.entry(login.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn clear_failures(&self, login: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(login);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_blocks_after_repeated_failures() {
        let a = Limiter::default();
        for _ in 0..MAX_FAILURES {
            assert!(a.blocked("x@y.z").is_none());
            a.record_failure("x@y.z");
        }
        assert!(a.blocked("x@y.z").is_some());
        assert!(a.blocked("other").is_none());
        a.clear_failures("x@y.z");
        assert!(a.blocked("x@y.z").is_none());
    }
}
