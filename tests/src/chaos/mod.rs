//! The fault run (`deploy/chaos.sh`, the `chaos` binary): the whole system
//! as real processes on loopback, clients writing into it and recording
//! every answer, a nemesis killing, pausing and cutting off each process
//! on a seeded schedule, and at the end a checker of every acknowledged
//! write, after healing everything and a last flush.
//!
//! * [`cluster`]: Redis (append-only file), PostgreSQL behind a [`proxy`],
//!   the api, two syncds.
//! * [`workload`] with [`task_ops`], [`account_ops`], [`hook_ops`], [`readback`]: the
//!   clients; [`model`]: what each expects; [`history`]: the record.
//! * [`nemesis`]: the faults. [`state`] and [`check`]: the verdict.
//!
//! The schedule and each client's choices come from the seed; the
//! interleaving is the machine's, so a seed replays the same plan, not
//! the same run. A finding names its ops; `history.jsonl.gz` in the run's
//! folder holds them with their answers.

pub mod account_ops;
pub mod aof;
pub mod check;
pub mod client;
pub mod cluster;
pub mod history;
pub mod hook_ops;
pub mod model;
pub mod nemesis;
pub mod procs;
pub mod proxy;
pub mod readback;
pub mod state;
pub mod task_ops;
pub mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use client::{As, Http, Outcome};
use cluster::{Cluster, OWNER_SECRET};
use nemesis::{Fault, Plan};
use workload::{Loss, Shared, Worker};

/// A small seeded generator (SplitMix64): the same seed gives the same
/// schedule on every machine and in every version, which a library's
/// generator does not promise.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// In `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// How to run.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub seed: u64,
    /// Redis's `appendfsync`: `always` or `everysec`.
    pub fsync: String,
    pub clients: usize,
    /// Each fault kind at least this many times.
    pub each: u64,
    /// At least this many faults, and this many acknowledged writes.
    pub faults: u64,
    pub writes: u64,
    pub gap_ms: (u64, u64),
    /// The fault kinds (all by default).
    pub kinds: Vec<Fault>,
    /// Tasks each client keeps at most.
    pub max_tasks: usize,
    pub out: PathBuf,
}

impl Config {
    /// A few minutes: every fault kind twice.
    pub fn short(seed: u64, fsync: &str, out: &Path) -> Config {
        Config {
            seed,
            fsync: fsync.to_owned(),
            clients: 6,
            each: 2,
            faults: 0,
            writes: 0,
            gap_ms: (300, 1200),
            kinds: Fault::ALL.to_vec(),
            max_tasks: 150,
            out: out.to_path_buf(),
        }
    }

    /// At least 1,000 faults and 1,000,000 acknowledged writes.
    pub fn long(seed: u64, fsync: &str, out: &Path) -> Config {
        Config {
            clients: 16,
            each: 10,
            faults: 1000,
            writes: 1_000_000,
            gap_ms: (200, 1500),
            max_tasks: 300,
            ..Config::short(seed, fsync, out)
        }
    }
}

/// The run's figures and findings (`report.json`).
#[derive(Debug, Serialize)]
pub struct Report {
    pub config: Config,
    pub seconds: f64,
    pub writes: BTreeMap<String, u64>,
    pub faults: BTreeMap<Fault, u64>,
    pub restore_retries: u64,
    pub crashes: Vec<String>,
    /// Rows a Redis kill lost (found by the clients' read-back after it).
    pub lost_at_redis_kills: Vec<Loss>,
    /// Of those, the ones answered more than `LOSS_WINDOW_MS` before a
    /// kill: not explained by `everysec`.
    pub lost_outside_window: Vec<Loss>,
    pub findings: check::Findings,
    pub ok: bool,
}

/// How long before a Redis kill an `everysec` loss may have been answered.
pub const LOSS_WINDOW_MS: u64 = 2_000;

/// Whether a write sent at `sent_ms` and answered at `answered_ms` may
/// have been lost by one of the crashes (`kills`, ms): sent before it (or
/// up to 100 ms after, the kill's signal on its way) and answered at most
/// [`LOSS_WINDOW_MS`] before it. A write in flight across the crash counts:
/// Redis may have run it just before dying and the api answered later,
/// once a step after the write (keeping an idempotent create's answer)
/// had failed on the dead server (seed 1206, `everysec`, long: answered
/// 420 ms after the crash, then counted as lost 2.6 s before the next).
pub fn near_a_crash(kills: &[u64], sent_ms: u64, answered_ms: u64) -> bool {
    kills
        .iter()
        .any(|k| sent_ms <= *k + 100 && *k <= answered_ms + LOSS_WINDOW_MS)
}

pub async fn run(config: Config) -> Result<Report> {
    std::fs::create_dir_all(&config.out)?;
    let started = Instant::now();
    let mut cluster = Cluster::start(&config.out, &config.fsync).await?;
    let (history, writer) = history::writer(&config.out.join("history.jsonl.gz"))?;
    let shared = Arc::new(Shared {
        http: Http::new(cluster.api_addr),
        owner: As::Owner(OWNER_SECRET.into()),
        started,
        history,
        ledger: history::Ledger::default(),
        next_op: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        target_writes: config.writes,
        resync: tokio::sync::watch::channel(0).0,
        losses: std::sync::Mutex::new(Vec::new()),
        recovering: AtomicBool::new(false),
        redis_kills: AtomicU64::new(0),
    });
    let workers: Vec<_> = (0..config.clients)
        .map(|i| tokio::spawn(Worker::new(i, shared.clone(), config.seed, config.max_tasks).run()))
        .collect();
    let plan = Plan {
        each: config.each,
        total: config.faults,
        gap_ms: config.gap_ms,
        kinds: config.kinds.clone(),
        journal: config.out.join("faults.jsonl"),
        crash_loses_unsynced: config.fsync == "everysec",
    };
    let log = nemesis::run(&mut cluster, shared.clone(), plan, config.seed).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut done = Vec::new();
    for w in workers {
        done.push(w.await.context("a client panicked")?);
    }
    cluster.heal().await?;
    if let Err(e) = settle(&cluster).await {
        cluster.dump_stacks(&config.out);
        keep(&cluster).await;
        return Err(e);
    }

    let mut redis = cluster.redis_conn().await?;
    let (redis_rows, broken) = state::redis_rows(&mut redis, &cluster.keys).await?;
    let pg = crate::connect_pg(&cluster.pg_url()).await?;
    let pg_rows = state::pg_rows(&pg).await?;
    let audited = state::audited_ops(&pg).await?;
    let losses = shared
        .losses
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let unexpected: Vec<(u64, String)> = done.iter().flat_map(|w| w.unexpected.clone()).collect();
    // A Redis kill's fault heals once syncd has checked the restarted
    // server (`nemesis::inject`): its event's `healed_ms`.
    let (lossy_crashes, checked_after): (Vec<u64>, Vec<u64>) = if config.fsync == "everysec" {
        let healed = log.events.iter().filter(|e| e.fault == Fault::KillRedis);
        (
            log.redis_kills.clone(),
            healed.map(|e| e.healed_ms).collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let models: Vec<model::Model> = done.into_iter().map(|w| w.model).collect();
    let (findings, writes) = {
        let ledger = shared.ledger.lock();
        let findings = check::check(check::Inputs {
            models: &models,
            redis: &redis_rows,
            pg: &pg_rows,
            broken,
            ledger: &ledger,
            audited: &audited,
            losses: &losses,
            unexpected,
            lossy_crashes: &lossy_crashes,
            checked_after: &checked_after,
        });
        let mut writes = BTreeMap::new();
        for (outcome, _, _) in ledger.writes.values() {
            let name = match outcome {
                Outcome::Ok => "acknowledged",
                Outcome::Fail => "refused",
                Outcome::Info => "unanswered",
            };
            *writes.entry(name.to_owned()).or_insert(0) += 1;
        }
        (findings, writes)
    };
    let lost_outside_window = {
        let ledger = shared.ledger.lock();
        losses
            .iter()
            .filter(|l| {
                let sent = ledger.timing.get(&l.op).map_or(l.answered_ms, |t| t.0);
                !near_a_crash(&log.redis_kills, sent.min(l.answered_ms), l.answered_ms)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let strict = config.fsync == "always";
    let ok = findings.clean()
        && cluster.crashes.is_empty()
        && lost_outside_window.is_empty()
        && (!strict || losses.is_empty());
    let report = Report {
        seconds: started.elapsed().as_secs_f64(),
        writes,
        faults: log.counts(),
        restore_retries: log.restore_retries,
        crashes: cluster.crashes.clone(),
        lost_at_redis_kills: losses,
        lost_outside_window,
        findings,
        ok,
        config,
    };
    std::fs::write(
        report.config.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    if !report.ok {
        keep(&cluster).await;
    }
    drop(shared);
    let _ = writer.join();
    cluster.stop_processes().await;
    Ok(report)
}

/// For a post-mortem of a failed run: keeps everything running a while
/// (`CHAOS_KEEP` seconds), with where to find it.
async fn keep(cluster: &Cluster) {
    if let Some(secs) = std::env::var("CHAOS_KEEP")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        eprintln!(
            "chaos: keeping the system up {secs} s: api {}, redis {}, postgres {}",
            cluster.api_addr,
            cluster.redis.url(),
            cluster.pg_url()
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

/// After healing: a flush until one succeeds, then until nothing is
/// pending in Redis and the audit log has appended everything.
async fn settle(cluster: &Cluster) -> Result<()> {
    let ops = Http::with_timeout(cluster.api_addr, Duration::from_secs(120));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if Instant::now() > deadline {
            let mut redis = cluster.redis_conn().await?;
            let status: Option<String> = redis::cmd("GET")
                .arg(cluster.keys.syncd_status())
                .query_async(&mut redis)
                .await?;
            let info: redis::Value = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(cluster.keys.changes())
                .query_async(&mut redis)
                .await?;
            anyhow::bail!(
                "the system never settled after healing: last flush {}, status {status:?}, groups {info:?}",
                nemesis::admin(&ops, "force").await
            );
        }
        let answer = nemesis::admin(&ops, "force").await;
        // The audit backlog is syncd's heartbeat's (every 2 s): drained
        // twice, a heartbeat apart, is drained.
        if answer.starts_with("force: 200") && drained(cluster).await {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            if drained(cluster).await {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn drained(cluster: &Cluster) -> bool {
    let Ok(mut redis) = cluster.redis_conn().await else {
        return false;
    };
    let keys = &cluster.keys;
    let mut pipe = redis::pipe();
    for t in taskmaster_shared::keys::RowType::ALL {
        pipe.scard(keys.dirty(t)).scard(keys.inflight(t));
    }
    let counts: Vec<u64> = pipe
        .query_async(&mut redis)
        .await
        .unwrap_or_else(|_| vec![1]);
    let status: Option<String> = redis::cmd("GET")
        .arg(keys.syncd_status())
        .query_async(&mut redis)
        .await
        .unwrap_or(None);
    let backlog = status
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|s| s["audit"]["backlog"].as_u64());
    counts.iter().all(|c| *c == 0) && backlog == Some(0)
}

/// The report in a few lines, for a terminal.
pub fn summary(r: &Report) -> String {
    let f = &r.findings;
    let faults: Vec<String> = r.faults.iter().map(|(k, n)| format!("{k:?} {n}")).collect();
    let mut out = format!(
        "{} in {:.0} s: writes {:?}; faults ({}): {}\n\
         lost {}, resurrected {}, divergent {}, ids reused {}, invariants broken {}, phantoms {}, duplicates {}\n\
         unanswered but took effect {}, rows checked {} (loose {}), audit missing {:?} ({} more lost with a crash), audit of refused {}\n\
         unexpected refusals {} ({} more just after a lossy crash), crashes {}, restore retries {}, lost at Redis kills {} ({} outside {} ms)\n",
        if r.ok { "PASS" } else { "FAIL" },
        r.seconds,
        r.writes,
        r.faults.values().sum::<u64>(),
        faults.join(", "),
        f.lost.len(),
        f.resurrected.len(),
        f.divergent.len(),
        f.ids_reused.len(),
        f.invariants.len(),
        f.phantoms.len(),
        f.duplicates.len(),
        f.unanswered_took_effect,
        f.rows_checked,
        f.loose_rows,
        f.audit_missing,
        f.audit_lost_with_crash,
        f.audit_of_refused.len(),
        f.unexpected_refusals.len(),
        f.refused_after_loss,
        r.crashes.len(),
        r.restore_retries,
        r.lost_at_redis_kills.len(),
        r.lost_outside_window.len(),
        LOSS_WINDOW_MS,
    );
    let examples = f
        .lost
        .iter()
        .chain(&f.resurrected)
        .chain(&f.divergent)
        .chain(&f.invariants)
        .chain(&f.phantoms)
        .chain(&f.unexpected_refusals)
        .chain(&r.crashes)
        .take(12);
    for line in examples {
        out.push_str("  ");
        out.push_str(&line.chars().take(400).collect::<String>());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::near_a_crash;

    #[test]
    fn a_loss_is_put_down_to_a_crash_only_when_the_write_could_have_died_with_it() {
        let kills = [10_000];
        // (sent, answered, explained by the crash at 10 s)
        let cases = [
            (7_000, 7_900, false),   // answered over 2 s before it
            (8_000, 8_100, true),    // answered within 2 s before it
            (9_990, 10_050, true),   // answered as the kill's signal went out
            (9_980, 10_420, true),   // in flight across it, answered after
            (10_050, 10_400, true),  // sent as the kill's signal went out
            (10_200, 10_300, false), // sent after it: the restarted server's
            (12_500, 12_600, false), // long after it
        ];
        for (sent, answered, explained) in cases {
            assert_eq!(
                near_a_crash(&kills, sent, answered),
                explained,
                "sent {sent}, answered {answered}"
            );
        }
    }
}
