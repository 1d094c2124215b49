//! Prometheus metrics: one registry per process, shared by all its shards
//! and tasks, rendered in the Prometheus text format by
//! `metrics-exporter-prometheus` (the api serves it at `GET /metrics`,
//! syncd on `SYNCD_METRICS_ADDR`).
//!
//! Why a registry value instead of the `metrics` crate's global recorder:
//! tests run many apis in one process, and each must count only its own
//! requests. Handles are registered once (at start, or on first use of a
//! label set) and kept; recording through a kept handle is an atomic add,
//! no lookup.
//!
//! Every metric is named `taskmaster_…` and described here, so `/metrics`
//! carries its `# HELP` and the names are in one place
//! (`docs/design.md` lists them with their labels).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::config::MetricsConfig;

/// Bucket bounds of request and Redis latencies, in seconds: 100 µs to
/// 10 s, about three per decade (a quantile is then known within one
/// bucket: the same scale Prometheus' own defaults use, shifted down for
/// a service whose GET takes a fraction of a millisecond).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Bucket bounds of long operations (flushes, backups, restores), seconds.
pub const OPERATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Bucket bounds of row counts (rows per flush).
pub const ROW_BUCKETS: &[f64] = &[
    0.0,
    1.0,
    10.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
];

/// How often histograms are folded into their buckets when nobody
/// scrapes (each recorded value is kept until then).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The metrics of one process. Cheap to clone.
#[derive(Clone)]
pub struct Registry(Option<Arc<Inner>>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("enabled", &self.0.is_some())
            .finish()
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Registry {
    /// A registry, or with `enabled` false one whose handles do nothing.
    pub fn new(enabled: bool) -> Self {
        if !enabled {
            return Registry(None);
        }
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Suffix("operation_seconds".into()),
                    OPERATION_BUCKETS,
                )
            })
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_rows".into()), ROW_BUCKETS))
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        Registry(Some(Arc::new(Inner { recorder, handle })))
    }

    /// A registry that records (tests and the default configuration).
    pub fn from_config(config: &MetricsConfig) -> Self {
        Self::new(config.enabled)
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect();
        Key::from_parts(name, labels)
    }

    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        match &self.0 {
            Some(inner) => inner
                .recorder
                .register_counter(&Self::key(name, labels), &METADATA),
            None => Counter::noop(),
        }
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        match &self.0 {
            Some(inner) => inner
                .recorder
                .register_gauge(&Self::key(name, labels), &METADATA),
            None => Gauge::noop(),
        }
    }

    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        match &self.0 {
            Some(inner) => inner
                .recorder
                .register_histogram(&Self::key(name, labels), &METADATA),
            None => Histogram::noop(),
        }
    }

    /// The `# HELP` line of `name` (and its unit).
    pub fn describe(&self, name: &'static str, unit: Option<Unit>, help: &'static str) {
        if let Some(inner) = &self.0 {
            // One description per name: the kind does not matter to the text.
            inner
                .recorder
                .describe_counter(name.into(), unit, SharedString::const_str(help));
        }
    }

    /// `taskmaster_build_info{process, version} 1`.
    pub fn build_info(&self, process: &'static str) {
        self.describe(
            "taskmaster_build_info",
            None,
            "Always 1; the labels say which build runs.",
        );
        self.gauge(
            "taskmaster_build_info",
            &[("process", process), ("version", env!("CARGO_PKG_VERSION"))],
        )
        .set(1.0);
    }

    /// The exposition text; `None` when metrics are off.
    pub fn render(&self) -> Option<String> {
        self.0.as_ref().map(|inner| inner.handle.render())
    }

    /// Folds recorded values into their buckets every few seconds for as
    /// long as the registry lives, so that a process nobody scrapes does
    /// not keep them all. Needs a tokio runtime.
    pub fn spawn_upkeep(&self) {
        let Some(inner) = &self.0 else { return };
        let weak = Arc::downgrade(inner);
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(UPKEEP_EVERY);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                inner.handle.run_upkeep();
            }
        });
    }
}

/// What keeps observations locally and adds them to the registry's
/// handles when asked (before each render).
pub trait Publish: Send + Sync {
    fn publish(&self);
}

/// Latency observations in [`LATENCY_BUCKETS`], kept where they were
/// made: a count and a sum per bucket. Drained into a registry histogram
/// as one `record_many` per bucket, of the mean of that bucket's values,
/// which lies in the bucket: the bucket counts, the count and the sum come
/// out exactly as if every value had been recorded.
///
/// Why: a registry handle is shared by every thread, so each record is a
/// few atomic operations on cache lines the other cores also write. On the
/// 2-core benchmark machine that was about 0.5 µs per request (6% of a
/// single-task GET's throughput in `deploy/bench.sh`); these are written by
/// one shard only.
#[derive(Debug, Clone)]
pub struct Pending {
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sums: [f64; LATENCY_BUCKETS.len() + 1],
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            counts: [0; LATENCY_BUCKETS.len() + 1],
            sums: [0.0; LATENCY_BUCKETS.len() + 1],
        }
    }
}

impl Pending {
    /// The bucket `seconds` falls in (the last: beyond every bound).
    pub fn bucket(seconds: f64) -> usize {
        LATENCY_BUCKETS.partition_point(|bound| *bound < seconds)
    }

    pub fn add(&mut self, seconds: f64) {
        let i = Self::bucket(seconds);
        self.counts[i] += 1;
        self.sums[i] += seconds;
    }

    /// Adds what is pending to `target` and starts afresh.
    pub fn drain_into(&mut self, target: &Histogram) {
        for (count, sum) in self.counts.iter_mut().zip(self.sums.iter_mut()) {
            if *count > 0 {
                target.record_many(*sum / *count as f64, *count as usize);
                *count = 0;
                *sum = 0.0;
            }
        }
    }
}

/// A histogram handle for one thread's use (a shard's Redis round trips):
/// observations wait in [`Pending`] behind a lock only that thread takes,
/// until [`Publish::publish`].
#[derive(Debug)]
pub struct LocalHistogram {
    target: Histogram,
    pending: std::sync::Mutex<Pending>,
}

impl LocalHistogram {
    pub fn new(target: Histogram) -> Self {
        LocalHistogram {
            target,
            pending: std::sync::Mutex::default(),
        }
    }
}

impl metrics::HistogramFn for LocalHistogram {
    fn record(&self, value: f64) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(value);
    }
}

impl Publish for LocalHistogram {
    fn publish(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.drain_into(&self.target);
    }
}

/// Whether a caller may read the metrics: with a token configured, any
/// caller that sends it (`Authorization: Bearer …`); without one, a
/// loopback caller that did not come through a proxy (the request carries
/// no `X-Forwarded-For` or `Forwarded`: a proxy on the same machine would
/// otherwise make every request look local).
pub fn may_scrape(config: &MetricsConfig, peer: IpAddr, headers: &http::HeaderMap) -> bool {
    if config.token.is_empty() {
        let forwarded = headers.contains_key("x-forwarded-for")
            || headers.contains_key(http::header::FORWARDED);
        return peer.is_loopback() && !forwarded;
    }
    let Some(given) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    bool::from(subtle::ConstantTimeEq::ct_eq(
        given,
        config.token.expose().as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn scraping_needs_loopback_without_a_proxy_or_the_token() {
        let open = MetricsConfig {
            enabled: true,
            token: Secret::new(""),
        };
        let guarded = MetricsConfig {
            enabled: true,
            token: Secret::new("0123456789abcdef"),
        };
        let local: IpAddr = [127, 0, 0, 1].into();
        let remote: IpAddr = [10, 1, 2, 3].into();
        let table = [
            (&open, local, None, false, true),
            (&open, local, None, true, false),
            (&open, remote, None, false, false),
            (
                &open,
                remote,
                Some(&b"Bearer 0123456789abcdef"[..]),
                false,
                false,
            ),
            (
                &guarded,
                remote,
                Some(&b"Bearer 0123456789abcdef"[..]),
                true,
                true,
            ),
            (&guarded, local, None, false, false),
            (
                &guarded,
                local,
                Some(&b"Bearer 0123456789abcdeX"[..]),
                false,
                false,
            ),
            (
                &guarded,
                local,
                Some(&b"bearer 0123456789abcdef"[..]),
                false,
                false,
            ),
        ];
        for (config, peer, auth, forwarded, allowed) in table {
            let mut headers = http::HeaderMap::new();
            if let Some(auth) = auth {
                headers.insert(
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_bytes(auth).expect("a header value"),
                );
            }
            if forwarded {
                headers.insert(
                    "x-forwarded-for",
                    http::HeaderValue::from_static("203.0.113.9"),
                );
            }
            assert_eq!(
                may_scrape(config, peer, &headers),
                allowed,
                "{peer} {auth:?} {forwarded}"
            );
        }
    }

    #[test]
    fn the_exposition_names_what_was_recorded() {
        let registry = Registry::new(true);
        registry.describe("taskmaster_things_total", None, "Things.");
        registry
            .counter("taskmaster_things_total", &[("kind", "a")])
            .increment(3);
        registry
            .histogram("taskmaster_wait_duration_seconds", &[])
            .record(0.003);
        let text = registry.render().expect("enabled");
        assert!(
            text.contains("# HELP taskmaster_things_total Things."),
            "{text}"
        );
        assert!(
            text.contains("taskmaster_things_total{kind=\"a\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("taskmaster_wait_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(Registry::new(false).render().is_none());
    }

    #[test]
    fn pending_observations_come_out_as_if_each_had_been_recorded() {
        let direct = Registry::new(true);
        let drained = Registry::new(true);
        let name = "taskmaster_wait_duration_seconds";
        let local = LocalHistogram::new(drained.histogram(name, &[]));
        let values = [0.00005, 0.0003, 0.0004, 0.002, 0.002, 0.7, 30.0];
        for v in values {
            direct.histogram(name, &[]).record(v);
            metrics::HistogramFn::record(&local, v);
        }
        local.publish();
        // Published twice: nothing is added the second time.
        local.publish();
        let lines = |r: &Registry| -> Vec<String> {
            let text = r.render().expect("enabled");
            text.lines()
                .filter(|l| l.starts_with(name))
                .map(|l| {
                    // The sum may differ in its last digits only.
                    if l.contains("_sum") {
                        let v: f64 = l
                            .rsplit(' ')
                            .next()
                            .and_then(|v| v.parse().ok())
                            .expect("a sum");
                        format!("sum {v:.9}")
                    } else {
                        l.to_owned()
                    }
                })
                .collect()
        };
        assert_eq!(lines(&drained), lines(&direct));
        assert!(
            lines(&direct)
                .iter()
                .any(|l| l.contains("le=\"0.0005\"} 3"))
        );
    }
}
