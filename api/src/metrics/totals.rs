//! What the status page reads: the process's request totals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use taskmaster_shared::metrics::{LATENCY_BUCKETS, Pending};

/// Since the process started: requests, server errors and the latency
/// histogram over all routes, in [`LATENCY_BUCKETS`], as of the last
/// publish (the shards count in their own memory, see
/// [`super::ShardMeters`]). The status page polls them and shows the
/// differences (requests per second, error rate, p50 and p99), as
/// Prometheus' `rate()` would.
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
    /// Adds a shard's counts.
    pub(super) fn add(&self, counts: &LocalTotals) {
        self.requests.fetch_add(counts.requests, Ordering::Relaxed);
        self.errors.fetch_add(counts.errors, Ordering::Relaxed);
        for (total, n) in self.buckets.iter().zip(counts.buckets) {
            total.fetch_add(n, Ordering::Relaxed);
        }
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

/// A shard's counts since its last publish.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct LocalTotals {
    pub requests: u64,
    pub errors: u64,
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
}

impl LocalTotals {
    pub fn record(&mut self, took: Duration, server_error: bool) {
        self.requests += 1;
        self.errors += u64::from(server_error);
        self.buckets[Pending::bucket(took.as_secs_f64())] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_totals_cumulate_their_buckets_as_prometheus_does() {
        let mut local = LocalTotals::default();
        for ms in [0.05, 0.3, 0.3, 7.0, 20_000.0] {
            local.record(Duration::from_secs_f64(ms / 1_000.0), false);
        }
        local.record(Duration::from_millis(2), true);
        let totals = Totals::default();
        totals.add(&local);
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
