//! One sample of the soak, and the verdict over all of them: the targets
//! of issue 26 (no error; memory drift under 5% after the warm-up; no
//! growing backlog; a flat p99), each with the figures it was judged on.

use serde::Serialize;

use super::Config;

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the soak's start.
    pub t: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub refused: u64,
    pub api_rss_kb: u64,
    pub syncd_rss_kb: u64,
    pub api_fds: u64,
    pub syncd_fds: u64,
    pub redis_memory: u64,
    /// The api's connections to Redis (its pools' sockets), and from
    /// clients (its listening sockets included).
    pub api_redis_conns: u64,
    pub api_client_conns: u64,
    pub pending_rows: u64,
    pub lag_s: f64,
    pub change_log: u64,
    pub feed_events: u64,
}

impl Sample {
    pub const HEADER: &str = "t_s,rps,p50_ms,p99_ms,errors,refused,api_rss_kb,syncd_rss_kb,\
        api_fds,syncd_fds,redis_memory_bytes,api_redis_conns,api_client_conns,pending_rows,lag_s,change_log,feed_events";

    pub fn row(&self) -> String {
        format!(
            "{},{:.1},{:.3},{:.3},{},{},{},{},{},{},{},{},{},{},{:.1},{},{}",
            self.t,
            self.rps,
            self.p50_ms,
            self.p99_ms,
            self.errors,
            self.refused,
            self.api_rss_kb,
            self.syncd_rss_kb,
            self.api_fds,
            self.syncd_fds,
            self.redis_memory,
            self.api_redis_conns,
            self.api_client_conns,
            self.pending_rows,
            self.lag_s,
            self.change_log,
            self.feed_events
        )
    }
}

/// A target, the figure it was judged on, and whether it was met.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub target: &'static str,
    pub figure: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seconds: u64,
    pub warmup: u64,
    pub max_rps: f64,
    pub target_rps: f64,
    pub mean_rps: f64,
    pub requests: u64,
    pub errors: u64,
    pub refused: u64,
    pub verdicts: Vec<Verdict>,
    pub ok: bool,
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0u32), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { sum / f64::from(n) }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Judges the samples after the warm-up: its first and last fifths are
/// compared (memory, backlog, p99).
pub fn judge(samples: &[Sample], cfg: &Config, max_rps: f64, target_rps: f64) -> Summary {
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.t > cfg.warmup).collect();
    let fifth = (steady.len() / 5).max(1);
    let (first, last) = (
        &steady[..fifth.min(steady.len())],
        &steady[steady.len().saturating_sub(fifth)..],
    );
    let drift = |f: &dyn Fn(&Sample) -> f64| {
        let (a, b) = (
            mean(first.iter().map(|s| f(s))),
            mean(last.iter().map(|s| f(s))),
        );
        if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 }
    };
    let errors: u64 = samples.iter().map(|s| s.errors).sum();
    let api_drift = drift(&|s| s.api_rss_kb as f64);
    let syncd_drift = drift(&|s| s.syncd_rss_kb as f64);
    let max_pending = |part: &[&Sample]| part.iter().map(|s| s.pending_rows).max().unwrap_or(0);
    let (pending_first, pending_last) = (max_pending(first), max_pending(last));
    let max_lag = steady.iter().map(|s| s.lag_s).fold(0.0, f64::max);
    let fds = |f: &dyn Fn(&Sample) -> u64| {
        let v: Vec<u64> = steady.iter().map(|s| f(s)).collect();
        v.iter().max().unwrap_or(&0) - v.iter().min().unwrap_or(&0)
    };
    let p99_first = median(first.iter().map(|s| s.p99_ms).collect());
    let p99_last = median(last.iter().map(|s| s.p99_ms).collect());
    let verdicts = vec![
        Verdict {
            target: "no errors (5xx or no answer)",
            figure: format!("{errors}"),
            met: errors == 0,
        },
        Verdict {
            target: "api memory drift under 5% after the warm-up",
            figure: format!("{api_drift:+.1}%"),
            met: api_drift < 5.0,
        },
        Verdict {
            target: "syncd memory drift under 5% after the warm-up",
            figure: format!("{syncd_drift:+.1}%"),
            met: syncd_drift < 5.0,
        },
        Verdict {
            target: "open files do not grow",
            figure: format!(
                "api varied by {}, syncd by {}",
                fds(&|s| s.api_fds),
                fds(&|s| s.syncd_fds)
            ),
            met: fds(&|s| s.api_fds) < 32 && fds(&|s| s.syncd_fds) < 32,
        },
        Verdict {
            target: "no growing write-behind backlog",
            figure: format!(
                "most rows waiting: {pending_first} in the first fifth, {pending_last} in the last; \
                 longest lag {max_lag:.1} s"
            ),
            met: pending_last <= pending_first.max(1) * 2,
        },
        Verdict {
            target: "p99 flat",
            figure: format!(
                "median p99 {p99_first:.2} ms in the first fifth, {p99_last:.2} ms in the last"
            ),
            met: p99_last <= p99_first * 1.5 + 1.0,
        },
    ];
    Summary {
        seconds: cfg.seconds,
        warmup: cfg.warmup,
        max_rps,
        target_rps,
        mean_rps: mean(steady.iter().map(|s| s.rps)),
        requests: samples
            .iter()
            .map(|s| (s.rps * cfg.sample as f64) as u64)
            .sum(),
        errors,
        refused: samples.iter().map(|s| s.refused).sum(),
        ok: verdicts.iter().all(|v| v.met),
        verdicts,
    }
}
