//! One shard's request meters: counted in the shard's own memory, added
//! to the registry's shared handles when published (see the module
//! above for why).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use metrics::{Counter, Gauge, Histogram};
use taskmaster_shared::metrics::{Pending, Publish, Registry};

use super::ApiMetrics;
use super::totals::{LocalTotals, Totals};

/// Labels a request with no matching route (a 404 for an unknown path).
pub const UNMATCHED: &str = "(unmatched)";

/// A shard's meters.
pub struct ShardMeters {
    registry: Registry,
    totals: Arc<Totals>,
    in_flight_gauge: Gauge,
    connections_gauge: Gauge,
    /// Requests being answered and connections open on this shard (only
    /// its thread writes them).
    in_flight: AtomicI64,
    connections: AtomicI64,
    local: Mutex<Local>,
}

/// What the shard has counted since its last publish.
#[derive(Default)]
struct Local {
    routes: HashMap<(&'static str, &'static str, u16), RouteMeter>,
    totals: LocalTotals,
    in_flight_published: i64,
    connections_published: i64,
}

/// One (route, method, status): its pending count and latencies, and the
/// shared handles they go to.
struct RouteMeter {
    count: u64,
    latencies: Pending,
    requests: Counter,
    latency: Histogram,
    limited: Option<Counter>,
}

/// A request in flight on a shard; counted out when dropped (a client that
/// hangs up drops the request's future).
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ShardMeters {
    pub(super) fn new(metrics: &ApiMetrics) -> Self {
        ShardMeters {
            registry: metrics.registry.clone(),
            totals: metrics.totals.clone(),
            in_flight_gauge: metrics.in_flight.clone(),
            connections_gauge: metrics.connections.clone(),
            in_flight: AtomicI64::new(0),
            connections: AtomicI64::new(0),
            local: Mutex::default(),
        }
    }

    /// Counts a request in until the guard drops.
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// A connection opened (`1`) or closed (`-1`).
    pub fn connection(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }

    /// Records one answered request.
    pub fn record(&self, route: &'static str, method: &Method, status: u16, took: Duration) {
        let method = known_method(method);
        // Only this shard's thread takes the lock, but for a publish.
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        local.totals.record(took, status >= 500);
        if !self.registry.enabled() {
            return;
        }
        let meter = local
            .routes
            .entry((route, method, status))
            .or_insert_with(|| RouteMeter::register(&self.registry, route, method, status));
        meter.count += 1;
        meter.latencies.add(took.as_secs_f64());
    }
}

impl Publish for ShardMeters {
    fn publish(&self) {
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        self.totals.add(&local.totals);
        local.totals = LocalTotals::default();
        for meter in local.routes.values_mut() {
            if meter.count > 0 {
                meter.requests.increment(meter.count);
                if let Some(limited) = &meter.limited {
                    limited.increment(meter.count);
                }
                meter.count = 0;
                meter.latencies.drain_into(&meter.latency);
            }
        }
        // The gauges are the processes' sums: each shard adds its change.
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let connections = self.connections.load(Ordering::Relaxed);
        self.in_flight_gauge
            .increment((in_flight - local.in_flight_published) as f64);
        self.connections_gauge
            .increment((connections - local.connections_published) as f64);
        local.in_flight_published = in_flight;
        local.connections_published = connections;
    }
}

impl RouteMeter {
    fn register(r: &Registry, route: &'static str, method: &'static str, status: u16) -> Self {
        let mut code = itoa::Buffer::new();
        let code = code.format(status);
        RouteMeter {
            count: 0,
            latencies: Pending::default(),
            requests: r.counter(
                "taskmaster_http_requests_total",
                &[("route", route), ("method", method), ("status", code)],
            ),
            latency: r.histogram(
                "taskmaster_http_request_duration_seconds",
                &[("route", route), ("method", method)],
            ),
            limited: (status == 429)
                .then(|| r.counter("taskmaster_rate_limited_total", &[("route", route)])),
        }
    }
}

/// The method as a label: the standard ones by name, any other `OTHER`
/// (hyper accepts any token as a method; a client inventing one per
/// request must not grow the label set without bound).
fn known_method(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}
