//! The soak (`deploy/soak.sh`, README "Reliability"): the whole system as
//! real processes on loopback (the fault run's [`Cluster`], with no
//! fault), first driven flat out to measure its maximum, then held for an
//! hour at a share of it (`SOAK_LOAD`, 0.7) with a realistic mix (mostly
//! reads, lists, statistics, writes; a few live-feed clients), sampled
//! every `SOAK_SAMPLE` seconds into `samples.csv`: throughput, p50/p99,
//! errors, the api's and syncd's memory and open files, Redis's memory,
//! the rows waiting to be written behind, the write-behind lag, the change
//! log's length. `summary.json` judges the run against its targets: no
//! error, memory drift under 5% after the warm-up, no growing backlog, a
//! flat p99.

mod feed;
mod judge;
mod load;
mod probe;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hyper::Method;
use serde_json::json;

use crate::chaos::client::{As, Http};
use crate::chaos::cluster::{Cluster, OWNER_SECRET, Target};
use crate::chaos::procs::{self, End};
pub use judge::{Sample, Summary};
use load::{Actor, Load, Window};

/// The run's settings, from `SOAK_*` variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub seconds: u64,
    pub warmup: u64,
    pub load: f64,
    pub clients: usize,
    pub feeds: usize,
    pub sample: u64,
    pub out: PathBuf,
}

impl Config {
    /// Every bad variable is reported at once.
    pub fn from_env() -> Result<Config, Vec<String>> {
        let mut bad = Vec::new();
        let mut num = |name: &str, default: f64, ok: &dyn Fn(f64) -> bool| match std::env::var(name)
        {
            Err(_) => default,
            Ok(v) => match v.parse::<f64>() {
                Ok(n) if ok(n) => n,
                _ => {
                    bad.push(format!("{name}={v:?} is not valid"));
                    default
                }
            },
        };
        let seconds = num("SOAK_SECONDS", 3600.0, &|n| n >= 30.0) as u64;
        let warmup = num("SOAK_WARMUP", 300.0, &|n| n >= 0.0) as u64;
        let load = num("SOAK_LOAD", 0.7, &|n| n > 0.0 && n <= 1.0);
        let clients = num("SOAK_CLIENTS", 32.0, &|n| (1.0..=512.0).contains(&n)) as usize;
        let feeds = num("SOAK_FEEDS", 3.0, &|n| (0.0..=64.0).contains(&n)) as usize;
        let sample = num("SOAK_SAMPLE", 10.0, &|n| n >= 1.0) as u64;
        if warmup >= seconds {
            bad.push("SOAK_WARMUP must be shorter than SOAK_SECONDS".into());
        }
        let out = std::env::var("SOAK_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("target/soak"));
        if bad.is_empty() {
            Ok(Config {
                seconds,
                warmup,
                load,
                clients,
                feeds,
                sample,
                out,
            })
        } else {
            Err(bad)
        }
    }
}

/// Runs the soak; the summary is also in `summary.json`.
pub async fn run(cfg: &Config) -> Result<Summary> {
    std::fs::create_dir_all(&cfg.out)?;
    let mut cluster = Cluster::start(&cfg.out, "everysec").await?;
    let http = Http::new(cluster.api_addr);
    let owner = As::Owner(OWNER_SECRET.to_owned());
    let actors = setup(&http, &owner).await?;
    let load = Arc::new(Load {
        http,
        owner,
        actors,
        window: std::sync::Mutex::new(Window::default()),
        stop: AtomicBool::new(false),
    });

    // The maximum: every client as fast as answers come, 20 s after 5.
    let max_rps = {
        let handles = spawn(&load, cfg.clients, 0.0, 1);
        tokio::time::sleep(Duration::from_secs(5)).await;
        take(&load);
        tokio::time::sleep(Duration::from_secs(20)).await;
        let w = take(&load);
        stop(&load, handles).await;
        (w.micros.len() as u64 + w.errors) as f64 / 20.0
    };
    let target = max_rps * cfg.load;
    eprintln!(
        "soak: maximum {max_rps:.0} requests/s; holding {target:.0}/s for {} s",
        cfg.seconds
    );

    let events = Arc::new(AtomicU64::new(0));
    let feeds: Vec<_> = (0..cfg.feeds)
        .map(|_| {
            tokio::spawn(feed::follow(
                cluster.api_addr,
                OWNER_SECRET.to_owned(),
                events.clone(),
                load.clone(),
            ))
        })
        .collect();
    let handles = spawn(&load, cfg.clients, target / cfg.clients as f64, 1000);
    let mut redis = cluster.redis_conn().await?;
    let mut csv = std::fs::File::create(cfg.out.join("samples.csv"))?;
    writeln!(csv, "{}", Sample::HEADER)?;
    let started = Instant::now();
    let mut samples = Vec::new();
    take(&load);
    let mut next = started;
    while started.elapsed() < Duration::from_secs(cfg.seconds) {
        next += Duration::from_secs(cfg.sample);
        tokio::time::sleep_until(next.into()).await;
        let mut w = take(&load);
        // A process that is gone reads as pid 0: no such entry, zeros.
        let pid = |target| cluster.pids(target).first().copied().unwrap_or(0);
        let (api_pid, syncd_pid) = (pid(Target::Api), pid(Target::Syncd(0)));
        let of = |pid| (procs::rss_kib(pid), procs::open_fds(pid));
        let (api, syncd) = (of(api_pid), of(syncd_pid));
        let r = probe::redis(&mut redis, &cluster.keys)
            .await
            .unwrap_or_default();
        let s = Sample {
            t: started.elapsed().as_secs(),
            rps: (w.micros.len() as u64 + w.errors) as f64 / cfg.sample as f64,
            p50_ms: w.quantile_ms(0.5),
            p99_ms: w.quantile_ms(0.99),
            errors: w.errors,
            refused: w.refused,
            api_rss_kb: api.0,
            syncd_rss_kb: syncd.0,
            api_fds: api.1,
            syncd_fds: syncd.1,
            redis_memory: r.used_memory,
            api_redis_conns: procs::sockets(api_pid, End::Remote, cluster.redis.port),
            api_client_conns: procs::sockets(api_pid, End::Local, cluster.api_addr.port()),
            pending_rows: r.pending,
            lag_s: r.lag_secs,
            change_log: r.change_log,
            feed_events: events.swap(0, Ordering::Relaxed),
        };
        writeln!(csv, "{}", s.row())?;
        csv.flush()?;
        eprintln!("{}", s.row());
        samples.push(s);
    }
    stop(&load, handles).await;
    for f in feeds {
        f.abort();
    }
    let summary = judge::judge(&samples, cfg, max_rps, target);
    std::fs::write(
        cfg.out.join("summary.json"),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    cluster.stop_processes().await;
    Ok(summary)
}

fn spawn(load: &Arc<Load>, n: usize, per_sec: f64, seed: u64) -> Vec<tokio::task::JoinHandle<()>> {
    load.stop.store(false, Ordering::Relaxed);
    (0..n)
        .map(|i| tokio::spawn(load.clone().client(seed + i as u64, per_sec)))
        .collect()
}

async fn stop(load: &Load, handles: Vec<tokio::task::JoinHandle<()>>) {
    load.stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
}

fn take(load: &Load) -> Window {
    std::mem::take(&mut *load.window.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A group admin, 4 groups and 40 users (10 a group), each with a
/// personal API token and 50 tasks.
async fn setup(http: &Http, owner: &As) -> Result<Vec<Actor>> {
    let ok = |a: &crate::chaos::client::Answer, what: &str| {
        anyhow::ensure!(
            (200..300).contains(&a.status),
            "{what}: {} {}",
            a.status,
            a.body
        );
        Ok(())
    };
    let pw = "soak-password-1";
    let admin = http
        .json(
            Method::POST,
            "/users",
            owner,
            Some(&json!({"full_name": "Soak admin",
            "email": "admin@soak.test", "password": pw, "role": "group_admin"})),
            "soak-setup",
        )
        .await;
    ok(&admin, "admin")?;
    let admin_id = admin.data()["user"]["id"].as_u64().context("admin id")?;
    let mut actors = Vec::new();
    for g in 0..4 {
        let group = http
            .json(
                Method::POST,
                "/groups",
                owner,
                Some(&json!({"name": format!("Soak {g}"), "admin_id": admin_id})),
                "soak-setup",
            )
            .await;
        ok(&group, "group")?;
        let gid = group.data()["group"]["id"].as_u64().context("group id")?;
        for u in 0..10 {
            let user = http
                .json(
                    Method::POST,
                    "/users",
                    owner,
                    Some(&json!({
                    "full_name": format!("Soak user {g}-{u}"),
                    "email": format!("u{g}-{u}@soak.test"), "password": pw,
                    "role": "user", "group_ids": [gid]})),
                    "soak-setup",
                )
                .await;
            ok(&user, "user")?;
            let uid = user.data()["user"]["id"].as_u64().context("user id")?;
            let token = http
                .json(
                    Method::POST,
                    "/auth/tokens",
                    &As::Basic(uid, pw.into()),
                    Some(&json!({"name": "soak"})),
                    "soak-setup",
                )
                .await;
            ok(&token, "token")?;
            let token = token.data()["token"].as_str().context("token")?.to_owned();
            // One create each: there is no bulk create (`/tasks/batch` edits).
            for i in 0..50 {
                let task = json!({"title": format!("seed {i}"), "group_id": gid,
                                  "priority": 1 + i % 3});
                let one = http
                    .json(
                        Method::POST,
                        &format!("/users/{uid}/tasks"),
                        owner,
                        Some(&task),
                        "soak-setup",
                    )
                    .await;
                ok(&one, "task")?;
            }
            actors.push(Actor {
                user: uid,
                group: gid,
                token,
            });
        }
    }
    Ok(actors)
}
