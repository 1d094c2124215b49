//! The api's Prometheus metrics: the handles the rest of the crate
//! records into, registered once per process in one
//! [`taskmaster_shared::metrics::Registry`] (all shards share it), and
//! the running totals the status page reads.
//!
//! Requests are counted by the edge ([`crate::middleware`]) with the
//! route's pattern (never the raw path, so ids cannot grow the label
//! set), the method and the status. Each shard keeps the handles it has
//! used in [`RouteMeters`], so a request costs a map lookup and atomic
//! adds, never a registration.
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

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::Method;
use metrics::{Counter, Gauge, Histogram, Unit};
use taskmaster_shared::metrics::{LATENCY_BUCKETS, Registry};

/// Labels a request with no matching route (a 404 for an unknown path).
pub const UNMATCHED: &str = "(unmatched)";

/// The process's metrics. Shared by the shards through
/// [`crate::Services`].
pub struct ApiMetrics {
    pub registry: Registry,
    pub in_flight: Gauge,
    pub connections: Gauge,
    pub redis: Histogram,
    pub login_failures: Counter,
    pub feed: FeedMeters,
    pub credentials: HitMiss,
    pub lists: HitMiss,
    pub pages: HitMiss,
    /// What the status page shows (see [`Totals`]).
    pub totals: Totals,
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
            credentials: HitMiss::new(r, "credentials"),
            lists: HitMiss::new(r, "lists"),
            pages: HitMiss::new(r, "pages"),
            totals: Totals::default(),
            registry,
        }
    }

    /// Metrics that record nothing (metrics off).
    pub fn off() -> Self {
        Self::new(Registry::new(false))
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

/// A cache's hits and misses.
#[derive(Clone)]
pub struct HitMiss {
    hit: Counter,
    miss: Counter,
}

impl HitMiss {
    fn new(r: &Registry, cache: &'static str) -> Self {
        let lookups = "taskmaster_cache_lookups_total";
        HitMiss {
            hit: r.counter(lookups, &[("cache", cache), ("result", "hit")]),
            miss: r.counter(lookups, &[("cache", cache), ("result", "miss")]),
        }
    }

    /// Counts one lookup; passes `found` through.
    pub fn count<T>(&self, found: Option<T>) -> Option<T> {
        match found {
            Some(_) => self.hit.increment(1),
            None => self.miss.increment(1),
        }
        found
    }
}

impl Default for HitMiss {
    fn default() -> Self {
        HitMiss {
            hit: Counter::noop(),
            miss: Counter::noop(),
        }
    }
}

/// Since the process started: requests, server errors and the latency
/// histogram over all routes, in [`LATENCY_BUCKETS`]. The status page
/// polls them and shows the differences (requests per second, error
/// rate, p50 and p99), as Prometheus' `rate()` would; they cost three
/// atomic adds per request.
pub struct Totals {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Requests that took at most `LATENCY_BUCKETS[i]`, not cumulated;
    /// the last one counts the slower ones.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A snapshot of [`Totals`]; `buckets` cumulated as Prometheus' are
/// (`buckets[i]`: requests that took at most `bounds[i]`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TotalsView {
    pub requests: u64,
    /// Answers with a 5xx status.
    pub errors: u64,
    /// Upper bounds of the latency buckets, in seconds.
    pub bounds: Vec<f64>,
    pub buckets: Vec<u64>,
}

impl Totals {
    fn record(&self, took: Duration, server_error: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if server_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = took.as_secs_f64();
        let i = LATENCY_BUCKETS.partition_point(|bound| *bound < seconds);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn view(&self) -> TotalsView {
        let mut running = 0;
        let buckets = self.buckets[..LATENCY_BUCKETS.len()]
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        TotalsView {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            bounds: LATENCY_BUCKETS.to_vec(),
            buckets,
        }
    }
}

/// One shard's handles for the routes it has answered.
pub struct RouteMeters {
    seen: Mutex<HashMap<(&'static str, Method, u16), Meter>>,
}

#[derive(Clone)]
struct Meter {
    count: Counter,
    latency: Histogram,
    limited: Option<Counter>,
}

impl RouteMeters {
    pub fn new() -> Self {
        RouteMeters {
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records one answered request.
    pub fn record(
        &self,
        metrics: &ApiMetrics,
        route: &'static str,
        method: &Method,
        status: u16,
        took: Duration,
    ) {
        metrics.totals.record(took, status >= 500);
        if !metrics.registry.enabled() {
            return;
        }
        let meter = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            // The shard's thread is the only one here: the lock is never
            // contended, and the clone is two reference counts.
            match seen.get(&(route, method.clone(), status)) {
                Some(meter) => meter.clone(),
                None => {
                    let meter = Self::register(&metrics.registry, route, method, status);
                    seen.insert((route, method.clone(), status), meter.clone());
                    meter
                }
            }
        };
        meter.count.increment(1);
        meter.latency.record(took.as_secs_f64());
        if let Some(limited) = meter.limited {
            limited.increment(1);
        }
    }

    fn register(r: &Registry, route: &'static str, method: &Method, status: u16) -> Meter {
        let mut code = itoa::Buffer::new();
        let code = code.format(status);
        Meter {
            count: r.counter(
                "taskmaster_http_requests_total",
                &[
                    ("route", route),
                    ("method", method.as_str()),
                    ("status", code),
                ],
            ),
            latency: r.histogram(
                "taskmaster_http_request_duration_seconds",
                &[("route", route), ("method", method.as_str())],
            ),
            limited: (status == 429)
                .then(|| r.counter("taskmaster_rate_limited_total", &[("route", route)])),
        }
    }
}

impl Default for RouteMeters {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_totals_cumulate_their_buckets_as_prometheus_does() {
        let totals = Totals::default();
        for ms in [0.05, 0.3, 0.3, 7.0, 20_000.0] {
            totals.record(Duration::from_secs_f64(ms / 1_000.0), false);
        }
        totals.record(Duration::from_millis(2), true);
        let view = totals.view();
        assert_eq!((view.requests, view.errors), (6, 1));
        let at = |bound: f64| {
            view.buckets[view
                .bounds
                .iter()
                .position(|b| *b == bound)
                .expect("a bound")]
        };
        assert_eq!(at(0.0001), 1);
        assert_eq!(at(0.0005), 3);
        assert_eq!(at(0.0025), 4);
        assert_eq!(at(0.01), 5);
        // The 20 s one is beyond the last bound: counted in `requests` only.
        assert_eq!(at(10.0), 5);
    }
}
