//! The nemesis: faults one after another on a seeded schedule, each
//! injected and then healed (a killed process restarted, a paused one
//! continued, the database reachable again), while the clients write.
//! Operator actions count as faults too: forced flushes, backups and
//! restores under load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde::Serialize;

use super::Rng;
use super::client::{As, Http};
use super::cluster::{Cluster, OWNER_SECRET, Target};
use super::proxy::Mode;
use super::workload::Shared;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    KillApi,
    PauseApi,
    KillSyncd,
    PauseSyncd,
    KillRedis,
    PauseRedis,
    KillPostgres,
    PausePostgres,
    RefusePostgres,
    BlackholePostgres,
    Flush,
    Backup,
    Restore,
}

impl Fault {
    /// Parses a kind by its name in the report (`kill_redis`).
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| {
            serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(|s| s == name))
                == Some(true)
        })
    }

    pub const ALL: [Fault; 13] = [
        Fault::KillApi,
        Fault::PauseApi,
        Fault::KillSyncd,
        Fault::PauseSyncd,
        Fault::KillRedis,
        Fault::PauseRedis,
        Fault::KillPostgres,
        Fault::PausePostgres,
        Fault::RefusePostgres,
        Fault::BlackholePostgres,
        Fault::Flush,
        Fault::Backup,
        Fault::Restore,
    ];
}

/// One fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub fault: Fault,
    pub at_ms: u64,
    pub healed_ms: u64,
    pub detail: String,
}

/// What the nemesis did.
#[derive(Debug, Default, Serialize)]
pub struct Log {
    pub events: Vec<Event>,
    /// When each Redis kill happened (ms since the start).
    pub redis_kills: Vec<u64>,
    /// Restores that had to be run again after a failed one left the
    /// maintenance flag set.
    pub restore_retries: u64,
}

impl Log {
    pub fn counts(&self) -> BTreeMap<Fault, u64> {
        let mut counts = BTreeMap::new();
        for e in &self.events {
            *counts.entry(e.fault).or_insert(0) += 1;
        }
        counts
    }
}

/// How the nemesis runs.
pub struct Plan {
    /// Each kind at least this many times, in a shuffled order.
    pub each: u64,
    /// At least this many faults in all (random kinds after the rounds).
    pub total: u64,
    /// Pause between faults (ms).
    pub gap_ms: (u64, u64),
    /// The kinds to inject (all by default).
    pub kinds: Vec<Fault>,
    /// Where each fault is appended as it ends (`faults.jsonl`).
    pub journal: std::path::PathBuf,
    /// A Redis kill is its host's crash: the append-only file loses what
    /// was not yet on disk (`everysec`; see [`super::aof`]).
    pub crash_loses_unsynced: bool,
}

pub async fn run(cluster: &mut Cluster, shared: Arc<Shared>, plan: Plan, seed: u64) -> Log {
    let mut rng = Rng::new(seed ^ 0x6e65_6d65_7369_7321);
    let mut log = Log::default();
    let ops = Http::with_timeout(cluster.api_addr, Duration::from_secs(120));
    let mut queue: Vec<Fault> = Vec::new();
    for _ in 0..plan.each {
        queue.extend(&plan.kinds);
    }
    let mut journal = std::fs::File::create(&plan.journal).ok();
    let (aof, sampling) = super::aof::Sampler::start(cluster.redis.data_dir().to_path_buf());
    rng.shuffle(&mut queue);
    let mut n = 0u64;
    loop {
        let writes_left = shared.target_writes > 0
            && shared.acked.load(std::sync::atomic::Ordering::Relaxed) < shared.target_writes;
        if queue.is_empty() && n >= plan.total && !writes_left {
            break;
        }
        if shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let fault = queue
            .pop()
            .unwrap_or_else(|| plan.kinds[rng.below(plan.kinds.len() as u64) as usize]);
        tokio::time::sleep(Duration::from_millis(
            rng.between(plan.gap_ms.0, plan.gap_ms.1),
        ))
        .await;
        let at_ms = shared.now_ms();
        let crash = plan.crash_loses_unsynced.then_some(&aof);
        let detail = inject(cluster, &shared, &ops, &mut rng, &mut log, fault, crash).await;
        cluster.supervise().await;
        let event = Event {
            fault,
            at_ms,
            healed_ms: shared.now_ms(),
            detail,
        };
        if let Some(file) = journal.as_mut() {
            use std::io::Write;
            let _ = writeln!(
                file,
                "{}",
                serde_json::to_string(&event).unwrap_or_default()
            );
        }
        log.events.push(event);
        n += 1;
    }
    sampling.abort();
    log
}

async fn inject(
    cluster: &mut Cluster,
    shared: &Shared,
    ops: &Http,
    rng: &mut Rng,
    log: &mut Log,
    fault: Fault,
    crash: Option<&super::aof::Sampler>,
) -> String {
    let syncd = rng.below(2) as usize;
    let wait = |lo: u64, hi: u64, rng: &mut Rng| Duration::from_millis(rng.between(lo, hi));
    match fault {
        Fault::KillApi => {
            let down = wait(50, 1000, rng);
            cluster.kill(Target::Api).await;
            tokio::time::sleep(down).await;
            let started = cluster.start_target(Target::Api);
            let _ = cluster.wait_for_api().await;
            format!("down {down:?} {started:?}")
        }
        Fault::KillSyncd => {
            let down = wait(100, 3000, rng);
            cluster.kill(Target::Syncd(syncd)).await;
            tokio::time::sleep(down).await;
            format!(
                "syncd {syncd} down {down:?} {:?}",
                cluster.start_target(Target::Syncd(syncd))
            )
        }
        Fault::KillPostgres => {
            let down = wait(200, 3000, rng);
            cluster.kill(Target::Postgres).await;
            tokio::time::sleep(down).await;
            format!("down {down:?} {:?}", cluster.start_target(Target::Postgres))
        }
        Fault::KillRedis => {
            let down = wait(100, 1500, rng);
            shared
                .recovering
                .store(true, std::sync::atomic::Ordering::Relaxed);
            shared
                .redis_kills
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let killed_at = shared.now_ms();
            cluster.kill(Target::Redis).await;
            log.redis_kills.push(killed_at);
            let cut = crash.map(|aof| aof.lose_unsynced(cluster.redis.data_dir()));
            tokio::time::sleep(down).await;
            let started = cluster.start_target(Target::Redis);
            let checked = wait_until_checked(cluster).await;
            shared
                .recovering
                .store(false, std::sync::atomic::Ordering::Relaxed);
            // Every client reads its rows back and counts what is gone.
            shared.resync.send_modify(|g| *g += 1);
            format!(
                "down {down:?} {started:?}, append-only file cut by {cut:?} bytes, ids checked after {checked:?}"
            )
        }
        Fault::PauseApi | Fault::PauseSyncd | Fault::PauseRedis | Fault::PausePostgres => {
            let (target, pause) = match fault {
                Fault::PauseApi => (Target::Api, wait(300, 3000, rng)),
                // Past the 6 s lease, sometimes: the standby takes over.
                Fault::PauseSyncd => (Target::Syncd(syncd), wait(1000, 9000, rng)),
                Fault::PauseRedis => (Target::Redis, wait(300, 2500, rng)),
                _ => (Target::Postgres, wait(300, 4000, rng)),
            };
            cluster.pause(target);
            tokio::time::sleep(pause).await;
            cluster.resume(target);
            format!("{target:?} paused {pause:?}")
        }
        Fault::RefusePostgres | Fault::BlackholePostgres => {
            let (mode, cut) = if fault == Fault::RefusePostgres {
                (Mode::Refuse, wait(500, 5000, rng))
            } else {
                (Mode::Blackhole, wait(500, 8000, rng))
            };
            cluster.cut_postgres(mode);
            tokio::time::sleep(cut).await;
            cluster.cut_postgres(Mode::Pass);
            format!("{mode:?} for {cut:?}")
        }
        Fault::Flush => admin(ops, "force").await,
        Fault::Backup => admin(ops, "backup").await,
        Fault::Restore => {
            let mut detail = admin(ops, "restore").await;
            // A restore that failed midway leaves the flag set (the api
            // answers 503 rather than serve a half-built keyspace): the
            // operator runs it again.
            for _ in 0..20 {
                if !maintenance(cluster).await {
                    break;
                }
                log.restore_retries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                detail.push_str(&format!("; again: {}", admin(ops, "restore").await));
            }
            detail
        }
    }
}

/// `POST /admin/sync?action=…` as the owner: the answer, in short.
pub async fn admin(ops: &Http, action: &str) -> String {
    let answer = ops
        .json(
            Method::POST,
            &format!("/admin/sync?action={action}"),
            &As::Owner(OWNER_SECRET.into()),
            None,
            &format!("chaos-nemesis-{action}"),
        )
        .await;
    let error = answer.body["error"]
        .as_str()
        .unwrap_or(&answer.text)
        .to_owned();
    format!(
        "{action}: {} {}",
        answer.status,
        error.chars().take(160).collect::<String>()
    )
}

async fn maintenance(cluster: &Cluster) -> bool {
    let Ok(mut redis) = cluster.redis_conn().await else {
        return false;
    };
    redis::cmd("EXISTS")
        .arg(cluster.keys.maintenance())
        .query_async::<bool>(&mut redis)
        .await
        .unwrap_or(false)
}

/// Waits until syncd has checked the restarted Redis (its run id is in
/// `P meta:ids_run`) and no rebuild runs: from then on what the api
/// serves is what stays. Answers how long it took.
pub async fn wait_until_checked(cluster: &Cluster) -> Duration {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if let Ok(mut redis) = cluster.redis_conn().await {
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut redis)
                .await
                .unwrap_or_default();
            let run = info
                .lines()
                .find_map(|l| l.strip_prefix("run_id:"))
                .map(|s| s.trim().to_owned());
            let (checked, busy): (Option<String>, bool) = redis::pipe()
                .cmd("GET")
                .arg(cluster.keys.ids_run())
                .cmd("EXISTS")
                .arg(cluster.keys.maintenance())
                .query_async(&mut redis)
                .await
                .unwrap_or((None, true));
            if run.is_some() && checked == run && !busy {
                return started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
