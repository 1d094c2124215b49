//! Answers to `GET /users/{id}/tasks`, kept in process memory under the
//! user's task-list version.
//!
//! A user's task list is read far more often than it changes, and it is the
//! most expensive read there is: every row of the list is fetched and sent
//! on. So the full answer (the one the owner and the user themselves get)
//! is kept, keyed by user id, together with the version it was read at:
//! `tv` in the user's hash, which every write script that adds, changes or
//! deletes one of the user's tasks bumps in the same atomic step (see
//! `shared/src/keys/mod.rs`).
//!
//! Nothing here can go stale: each request still reads `tv` from Redis, in
//! the round trip that authenticates it, and an entry is used only when its
//! version is the current one. The version is read **before** the rows, so
//! a write landing in between makes an entry newer than its version claims,
//! never older; the next request then sees a new version and reads again.
//! A restore never repeats a version (it starts them from its epoch), so
//! this holds across api instances and restores alike. A crash of Redis's
//! host under `appendfsync everysec` does take versions back: the
//! restarted server hands the lost ones out again, over other rows. So an
//! entry is kept under a [`ListVersion`]: `tv` and how many connections
//! the shard's pool had dialed when it was read. A restarted server is
//! reached only through a new dial, so the entries read from the server
//! before never match; a version read across a dial is not used at all
//! (seed 1206, `everysec`, long: a client was answered its list from
//! before a crash, with a task the crash had lost, under a version the
//! restarted server had reached again).
//!
//! The cache is bounded in bytes (`LIST_CACHE_MB`, split between the
//! shards; 0 turns it off); when full, arbitrary entries make room.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use axum::body::Bytes;

/// Per-entry bookkeeping counted against the budget besides the body.
const ENTRY_OVERHEAD: usize = 64;

/// The version an answer is kept under: the shard's Redis dials when the
/// user's task-list version `tv` was read, and `tv`. Later dials order
/// after earlier ones (their server's versions are the newer truth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListVersion {
    pub dials: u64,
    pub tv: u64,
}

impl ListVersion {
    /// The version of a list whose `tv` (if any could be read) was read
    /// while the store's dials went from `before` to `after`: none, so
    /// nothing is kept or matched, when a dial came in between.
    pub fn read(tv: Option<u64>, before: u64, after: u64) -> Option<Self> {
        tv.filter(|_| before == after)
            .map(|tv| ListVersion { dials: before, tv })
    }
}

/// What an answer kept takes of the budget.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

impl Weigh for Bytes {
    fn bytes(&self) -> usize {
        self.len()
    }
}

/// The cached answers of one shard: by user id (the whole list), or by
/// user id and request (first pages, see `crate::paging`).
pub struct ListCache<K = u64, V = Bytes> {
    budget: usize,
    inner: Mutex<Inner<K, V>>,
    lookups: std::sync::Arc<crate::metrics::HitMiss>,
}

struct Inner<K, V> {
    entries: HashMap<K, (ListVersion, V)>,
    bytes: usize,
}

impl<K: Hash + Eq + Clone, V: Weigh + Clone> ListCache<K, V> {
    /// A cache holding at most `budget` bytes (0: keeps nothing).
    pub fn new(budget: usize) -> Self {
        ListCache {
            budget,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                bytes: 0,
            }),
            lookups: std::sync::Arc::default(),
        }
    }

    /// This cache, counting its hits and misses in `lookups`.
    pub fn counted(mut self, lookups: std::sync::Arc<crate::metrics::HitMiss>) -> Self {
        self.lookups = lookups;
        self
    }

    /// The answer for `key` at `version`, if it is kept.
    pub fn get(&self, key: &K, version: ListVersion) -> Option<V> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.lookups.count(match inner.entries.get(key) {
            Some((v, body)) if *v == version => Some(body.clone()),
            _ => None,
        })
    }

    /// Keeps `body` as the answer for `key` at `version`, unless a newer
    /// version is kept already or the body would take more than an eighth
    /// of the budget (one huge list must not evict everybody else's).
    pub fn put(&self, key: K, version: ListVersion, body: V) {
        let size = body.bytes() + ENTRY_OVERHEAD;
        if size > self.budget / 8 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((kept, old)) = inner.entries.get(&key) {
            if *kept > version {
                return;
            }
            let freed = old.bytes() + ENTRY_OVERHEAD;
            inner.bytes -= freed;
            inner.entries.remove(&key);
        }
        while inner.bytes + size > self.budget {
            let Some(victim) = inner.entries.keys().next().cloned() else {
                break;
            };
            if let Some((_, old)) = inner.entries.remove(&victim) {
                inner.bytes -= old.bytes() + ENTRY_OVERHEAD;
            }
        }
        inner.bytes += size;
        inner.entries.insert(key, (version, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    /// `tv` read with the pool at one dial.
    fn v(tv: u64) -> ListVersion {
        ListVersion { dials: 1, tv }
    }

    #[test]
    fn an_answer_is_found_only_under_its_own_version() {
        let cache: ListCache = ListCache::new(1 << 20);
        cache.put(7, v(3), body(10));
        assert_eq!(cache.get(&7, v(3)).map(|b| b.len()), Some(10));
        assert!(cache.get(&7, v(4)).is_none());
        assert!(cache.get(&7, v(2)).is_none());
        assert!(cache.get(&8, v(3)).is_none());
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let cache: ListCache = ListCache::new(1 << 20);
        cache.put(7, v(5), body(10));
        cache.put(7, v(4), body(20));
        assert_eq!(cache.get(&7, v(5)).map(|b| b.len()), Some(10));
        cache.put(7, v(6), body(30));
        assert_eq!(cache.get(&7, v(6)).map(|b| b.len()), Some(30));
        assert!(cache.get(&7, v(5)).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_budget() {
        let budget = 8 * (1000 + ENTRY_OVERHEAD);
        let cache: ListCache = ListCache::new(budget);
        for user in 0..100 {
            cache.put(user, v(1), body(1000));
            let inner = cache.inner.lock().expect("not poisoned");
            assert!(inner.bytes <= budget, "{} bytes kept", inner.bytes);
            let counted: usize = inner
                .entries
                .values()
                .map(|(_, b)| b.len() + ENTRY_OVERHEAD)
                .sum();
            assert_eq!(inner.bytes, counted);
        }
        // The newest entry is always kept.
        assert!(cache.get(&99, v(1)).is_some());
        // An entry over an eighth of the budget is not kept at all.
        cache.put(500, v(1), body(budget / 4));
        assert!(cache.get(&500, v(1)).is_none());
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache: ListCache = ListCache::new(0);
        cache.put(1, v(1), body(1));
        assert!(cache.get(&1, v(1)).is_none());
    }

    #[test]
    fn an_answer_kept_before_a_redis_restart_is_not_found_after_it() {
        let cache: ListCache = ListCache::new(1 << 20);
        cache.put(7, v(5), body(10));
        // The restarted server took `tv` back to 4, then reached 5 again
        // over other rows: read through a new dial, it is another version.
        let again = ListVersion::read(Some(5), 2, 2).expect("read within one dial");
        assert!(cache.get(&7, again).is_none());
        // Kept under it, it wins over what the old server's requests keep.
        cache.put(7, again, body(20));
        cache.put(7, v(9), body(30));
        assert_eq!(cache.get(&7, again).map(|b| b.len()), Some(20));
    }

    #[test]
    fn a_version_read_across_a_dial_is_no_version() {
        assert_eq!(ListVersion::read(Some(5), 3, 4), None);
        assert_eq!(ListVersion::read(None, 3, 3), None);
        assert_eq!(
            ListVersion::read(Some(5), 3, 3),
            Some(ListVersion { dials: 3, tv: 5 })
        );
    }
}
