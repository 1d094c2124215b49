//! The api's Prometheus metrics: the handles the rest of the crate
//! records into, registered once per process in one
//! [`taskmaster_shared::metrics::Registry`] (all shards share it), and
//! the running totals the status page reads.
//!
//! Requests are counted by the edge ([`crate::middleware`]) with the
//! route's pattern (never the raw path, so ids cannot grow the label
//! set), the method and the status. The counts, latencies, requests in
//! flight and connections of a request are kept in its shard's own
//! memory ([`ShardMeters`], one per shard) and added to the registry's
//! shared handles only when someone reads them ([`ApiMetrics::publish`],
//! before `/metrics` renders and `/status/data` answers): a request then
//! touches no cache line another core writes. Shared handles cost about
//! 0.5 µs per request on the 2-core benchmark machine, 6% of a GET.
//!
//! Names and labels (also listed in `docs/design.md`):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `taskmaster_http_requests_total` | counter | route, method, status |
//! | `taskmaster_http_request_duration_seconds` | histogram | route, method |
//! | `taskmaster_http_requests_in_flight` | gauge | |
//! | `taskmaster_http_connections` | gauge | |
//! | `taskmaster_redis_duration_seconds` | histogram | |
//! | `taskmaster_cache_lookups_total` | counter | cache (credentials, lists, pages), result (hit, miss) |
//! | `taskmaster_login_failures_total` | counter | |
//! | `taskmaster_rate_limited_total` | counter | route |
//! | `taskmaster_feed_connections` | gauge | |
//! | `taskmaster_feed_dropped_total` | counter | |
//! | `taskmaster_build_info` | gauge | process, version |

mod shard;
mod totals;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Unit};
use taskmaster_shared::metrics::{LocalHistogram, Publish, Registry};

pub use shard::{InFlight, ShardMeters, UNMATCHED};
pub use totals::{Totals, TotalsView};

/// The process's metrics. Shared by the shards through
/// [`crate::Services`].
pub struct ApiMetrics {
    pub registry: Registry,
    pub in_flight: Gauge,
    pub connections: Gauge,
    pub redis: Histogram,
    pub login_failures: Counter,
    pub feed: FeedMeters,
    /// What the status page shows (see [`Totals`]), as of the last publish.
    pub totals: Arc<Totals>,
    /// The shards' local meters, added to the handles by [`Self::publish`].
    publishers: Mutex<Vec<Arc<dyn Publish>>>,
}

impl ApiMetrics {
    pub fn new(registry: Registry) -> Self {
        let r = &registry;
        r.build_info("api");
        r.describe(
            "taskmaster_http_requests_total",
            None,
            "Requests answered, by route pattern, method and status.",
        );
        r.describe(
            "taskmaster_http_request_duration_seconds",
            Some(Unit::Seconds),
            "Time from a request's arrival to its answer, by route pattern and method.",
        );
        r.describe(
            "taskmaster_http_requests_in_flight",
            None,
            "Requests being answered now.",
        );
        r.describe(
            "taskmaster_http_connections",
            None,
            "Client connections open now (upgraded feed connections not included).",
        );
        r.describe(
            "taskmaster_redis_duration_seconds",
            Some(Unit::Seconds),
            "Redis round trips (a command, pipeline or script) as the api waits for them.",
        );
        r.describe(
            "taskmaster_cache_lookups_total",
            None,
            "Cache lookups by cache and result (hit or miss).",
        );
        r.describe(
            "taskmaster_login_failures_total",
            None,
            "Logins refused for a wrong login or password.",
        );
        r.describe(
            "taskmaster_rate_limited_total",
            None,
            "Requests refused 429 (a rate limit, or too many of something at once), by route pattern.",
        );
        r.describe(
            "taskmaster_feed_connections",
            None,
            "Live feed connections open now (WebSocket and event stream).",
        );
        r.describe(
            "taskmaster_feed_dropped_total",
            None,
            "Live feed connections closed for reading too slowly.",
        );
        ApiMetrics {
            in_flight: r.gauge("taskmaster_http_requests_in_flight", &[]),
            connections: r.gauge("taskmaster_http_connections", &[]),
            redis: r.histogram("taskmaster_redis_duration_seconds", &[]),
            login_failures: r.counter("taskmaster_login_failures_total", &[]),
            feed: FeedMeters {
                connections: r.gauge("taskmaster_feed_connections", &[]),
                dropped: r.counter("taskmaster_feed_dropped_total", &[]),
            },
            totals: Arc::default(),
            publishers: Mutex::default(),
            registry,
        }
    }

    /// A shard's meters: its requests, and its Redis round trips (the
    /// histogram its store records into).
    pub fn shard(&self) -> (Arc<ShardMeters>, Histogram) {
        let meters = Arc::new(ShardMeters::new(self));
        let redis = Arc::new(LocalHistogram::new(self.redis.clone()));
        let mut publishers = self.publishers.lock().unwrap_or_else(|e| e.into_inner());
        publishers.push(meters.clone());
        if self.registry.enabled() {
            publishers.push(redis.clone());
            (meters, Histogram::from_arc(redis))
        } else {
            (meters, Histogram::noop())
        }
    }

    /// A shard's counts of its cache `cache` (`credentials`, `lists`,
    /// `pages`).
    pub fn cache(&self, cache: &'static str) -> Arc<HitMiss> {
        let counts = Arc::new(HitMiss::new(&self.registry, cache));
        self.publishers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(counts.clone());
        counts
    }

    /// Adds what every shard has kept since the last time to the shared
    /// handles and totals. Each shard's lock is held for a moment; its
    /// requests wait that long at most.
    pub fn publish(&self) {
        let publishers = self.publishers.lock().unwrap_or_else(|e| e.into_inner());
        for publisher in publishers.iter() {
            publisher.publish();
        }
    }
}

/// The live feed's meters (see [`crate::feed`]).
#[derive(Clone)]
pub struct FeedMeters {
    pub connections: Gauge,
    pub dropped: Counter,
}

impl Default for FeedMeters {
    fn default() -> Self {
        FeedMeters {
            connections: Gauge::noop(),
            dropped: Counter::noop(),
        }
    }
}

/// One shard's cache's hits and misses, counted in its own memory and
/// added to the shared counters when published.
pub struct HitMiss {
    hits: AtomicU64,
    misses: AtomicU64,
    hit: Counter,
    miss: Counter,
}

impl HitMiss {
    fn new(r: &Registry, cache: &'static str) -> Self {
        let lookups = "taskmaster_cache_lookups_total";
        HitMiss {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            hit: r.counter(lookups, &[("cache", cache), ("result", "hit")]),
            miss: r.counter(lookups, &[("cache", cache), ("result", "miss")]),
        }
    }

    /// Counts one lookup; passes `found` through.
    pub fn count<T>(&self, found: Option<T>) -> Option<T> {
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }
}

impl Publish for HitMiss {
    fn publish(&self) {
        self.hit.increment(self.hits.swap(0, Ordering::Relaxed));
        self.miss.increment(self.misses.swap(0, Ordering::Relaxed));
    }
}

impl Default for HitMiss {
    fn default() -> Self {
        HitMiss {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            hit: Counter::noop(),
            miss: Counter::noop(),
        }
    }
}
