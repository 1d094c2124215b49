//! The system under test, as four kinds of real processes on loopback: a
//! Redis with its append-only file, a PostgreSQL behind [`Proxy`], the api
//! binary and two syncd binaries (active and standby), each restartable on
//! the same ports and data. Their logs go to the run's folder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use taskmaster_shared::keys::Keys;

use super::procs;
use super::proxy::{Mode, Proxy};
use crate::{ChildProcess, PostgresServer, RedisServer, connect_pg, free_port};

/// The owner secret of the run.
pub const OWNER_SECRET: &str = "chaos-owner-secret-0123456789";
const PREFIX: &str = "tchaos:";
const DATABASE: &str = "chaos";

/// A process the nemesis can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Api,
    Syncd(usize),
    Redis,
    Postgres,
}

pub struct Cluster {
    pub redis: RedisServer,
    pub postgres: PostgresServer,
    pub proxy: Proxy,
    pub api_addr: SocketAddr,
    pub keys: Keys,
    api: Option<ChildProcess>,
    api_env: HashMap<String, String>,
    syncds: [Option<ChildProcess>; 2],
    syncd_env: [HashMap<String, String>; 2],
    out: PathBuf,
    /// Processes that exited without being killed: (what, exit code).
    pub crashes: Vec<String>,
}

impl Cluster {
    /// Starts everything; `fsync` is Redis's `appendfsync` (`always` or
    /// `everysec`).
    pub async fn start(out: &Path, fsync: &str) -> Result<Cluster> {
        let fsync = fsync.to_owned();
        let (redis, postgres) = tokio::task::spawn_blocking(move || -> Result<_> {
            let redis = RedisServer::start_with(&[
                "--appendonly",
                "yes",
                "--appendfsync",
                &fsync,
                "--aof-use-rdb-preamble",
                "yes",
            ])?;
            Ok((redis, PostgresServer::start_with(true)?))
        })
        .await??;
        let admin = wait_for_pg(&postgres.url("postgres")).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await?;
        let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], postgres.port))).await?;
        let api_port = free_port();
        let api_addr = SocketAddr::from(([127, 0, 0, 1], api_port));
        let api_env = env(&[
            ("SERVER_HOST", "127.0.0.1".into()),
            ("SERVER_PORT", api_port.to_string()),
            ("REDIS_URL", RedisServer::api_url(redis.port)),
            ("REDIS_KEY_PREFIX", PREFIX.into()),
            ("OWNER_PASSWORD", OWNER_SECRET.into()),
            ("REDIS_CONNECT_TIMEOUT", "1s".into()),
            ("REDIS_RESPONSE_TIMEOUT", "2s".into()),
            ("RATE_LIMIT_PER_MINUTE", "10000000".into()),
            ("RATE_LIMIT_BURST", "10000000".into()),
            ("WEBHOOK_ALLOW_HOSTS", "127.0.0.1".into()),
            ("SHUTDOWN_GRACE", "2s".into()),
        ]);
        let db_url = format!(
            "postgres://postgres@127.0.0.1:{}/{DATABASE}?connect_timeout=2",
            proxy.addr.port()
        );
        let backups = out.join("backups");
        std::fs::create_dir_all(&backups)?;
        let syncd_env = || {
            env(&[
                ("REDIS_URL", RedisServer::syncd_url(redis.port)),
                ("REDIS_KEY_PREFIX", PREFIX.into()),
                ("DATABASE_URL", db_url.clone()),
                ("BACKUP_DIR", backups.display().to_string()),
                ("BACKUP_KEEP", "3".into()),
                ("SYNC_INTERVAL", "1s".into()),
                ("DB_CONNECT_TIMEOUT", "2s".into()),
                ("SYNCD_METRICS_ADDR", "off".into()),
                ("WEBHOOK_ALLOW_HOSTS", "127.0.0.1".into()),
                ("WEBHOOK_RETRY_BASE", "60s".into()),
                ("SHUTDOWN_GRACE", "2s".into()),
            ])
        };
        let mut cluster = Cluster {
            api_addr,
            keys: Keys::new(PREFIX),
            api: None,
            api_env,
            syncds: [None, None],
            syncd_env: [syncd_env(), syncd_env()],
            out: out.to_path_buf(),
            crashes: Vec::new(),
            redis,
            postgres,
            proxy,
        };
        cluster.launch(Target::Syncd(0))?;
        // The first syncd migrates the database before anything is written.
        let pg = connect_pg(&cluster.postgres.url(DATABASE)).await?;
        let mut migrated = false;
        for _ in 0..300 {
            if pg
                .query_one("SELECT count(*) FROM webhooks", &[])
                .await
                .is_ok()
            {
                migrated = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::ensure!(migrated, "syncd never migrated the database");
        cluster.launch(Target::Syncd(1))?;
        cluster.launch(Target::Api)?;
        cluster.wait_for_api().await?;
        Ok(cluster)
    }

    /// PostgreSQL's URL, straight (not through the proxy).
    pub fn pg_url(&self) -> String {
        self.postgres.url(DATABASE)
    }

    /// A connection to Redis as its unrestricted user.
    pub async fn redis_conn(&self) -> Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.redis.url())?;
        Ok(tokio::time::timeout(
            Duration::from_secs(3),
            client.get_multiplexed_async_connection(),
        )
        .await
        .context("redis connect timed out")??)
    }

    fn launch(&mut self, target: Target) -> Result<()> {
        match target {
            Target::Api => {
                let log = self.out.join("api.log");
                self.api = Some(ChildProcess::spawn_logged(
                    "taskmaster-api",
                    &self.api_env,
                    &log,
                )?);
            }
            Target::Syncd(n) => {
                let log = self.out.join(format!("syncd-{n}.log"));
                self.syncds[n] = Some(ChildProcess::spawn_logged(
                    "taskmaster-syncd",
                    &self.syncd_env[n],
                    &log,
                )?);
            }
            Target::Redis => tokio::task::block_in_place(|| self.redis.start_again())?,
            Target::Postgres => tokio::task::block_in_place(|| self.postgres.start_again())?,
        }
        Ok(())
    }

    pub async fn wait_for_api(&self) -> Result<()> {
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(self.api_addr).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the api never listened")
    }

    /// The process ids of a target (all of PostgreSQL's).
    pub fn pids(&self, target: Target) -> Vec<u32> {
        let child = |c: &Option<ChildProcess>| c.as_ref().and_then(|c| c.child.id());
        match target {
            Target::Api => child(&self.api).into_iter().collect(),
            Target::Syncd(n) => child(&self.syncds[n]).into_iter().collect(),
            Target::Redis => self.redis.pid().into_iter().collect(),
            Target::Postgres => self.postgres.pid().map(procs::tree).unwrap_or_default(),
        }
    }

    /// `kill -9`; the target stays down until [`Self::start`].
    pub async fn kill(&mut self, target: Target) {
        match target {
            Target::Api => kill_child(&mut self.api).await,
            Target::Syncd(n) => kill_child(&mut self.syncds[n]).await,
            Target::Redis => tokio::task::block_in_place(|| self.redis.stop()),
            Target::Postgres => tokio::task::block_in_place(|| self.postgres.kill_hard()),
        }
    }

    /// Starts a target that is down (a no-op when it runs).
    pub fn start_target(&mut self, target: Target) -> Result<()> {
        let down = match target {
            Target::Api => self.api.is_none(),
            Target::Syncd(n) => self.syncds[n].is_none(),
            Target::Redis => self.redis.pid().is_none(),
            Target::Postgres => self.postgres.pid().is_none(),
        };
        if down { self.launch(target) } else { Ok(()) }
    }

    pub fn pause(&self, target: Target) {
        for pid in self.pids(target) {
            procs::signal(pid, libc::SIGSTOP);
        }
    }

    pub fn resume(&self, target: Target) {
        for pid in self.pids(target) {
            procs::signal(pid, libc::SIGCONT);
        }
    }

    pub fn cut_postgres(&self, mode: Mode) {
        self.proxy.set(mode);
    }

    /// Restarts the api or a syncd that exited on its own (as systemd's
    /// `Restart=always` would), recording it: an exit nobody caused is a
    /// finding.
    pub async fn supervise(&mut self) {
        for target in [Target::Api, Target::Syncd(0), Target::Syncd(1)] {
            let slot = match target {
                Target::Api => &mut self.api,
                Target::Syncd(n) => &mut self.syncds[n],
                _ => continue,
            };
            let exited = slot
                .as_mut()
                .and_then(|c| c.child.try_wait().ok().flatten());
            if let Some(status) = exited {
                let output = slot.as_ref().map(|c| c.output()).unwrap_or_default();
                let tail: Vec<&str> = output.lines().rev().take(5).collect();
                self.crashes.push(format!(
                    "{target:?} exited with {status}: {}",
                    tail.join(" | ")
                ));
                *slot = None;
                if let Err(e) = self.launch(target) {
                    self.crashes
                        .push(format!("{target:?} could not be restarted: {e}"));
                }
            }
        }
    }

    /// Everything running and reachable again.
    pub async fn heal(&mut self) -> Result<()> {
        self.proxy.set(Mode::Pass);
        for target in [
            Target::Redis,
            Target::Postgres,
            Target::Syncd(0),
            Target::Syncd(1),
            Target::Api,
        ] {
            self.resume(target);
            self.start_target(target)?;
        }
        self.wait_for_api().await
    }

    /// Every thread's stack of the api and the syncds (`gdb`, when it is
    /// installed), into `stacks-{what}.txt`: what a hang is waiting on.
    pub fn dump_stacks(&self, out: &Path) {
        for target in [Target::Api, Target::Syncd(0), Target::Syncd(1)] {
            for pid in self.pids(target) {
                let Ok(dump) = std::process::Command::new("gdb")
                    .args([
                        "-p",
                        &pid.to_string(),
                        "-batch",
                        "-ex",
                        "thread apply all bt",
                    ])
                    .output()
                else {
                    return;
                };
                let name = format!("stacks-{target:?}.txt").replace(['(', ')'], "");
                let _ = std::fs::write(out.join(name), dump.stdout);
            }
        }
    }

    /// Stops the api and the syncds (SIGTERM, then SIGKILL after a while).
    pub async fn stop_processes(&mut self) {
        let [first, second] = &mut self.syncds;
        for slot in [&mut self.api, first, second] {
            if let Some(mut child) = slot.take() {
                child.signal(libc::SIGTERM);
                if child.wait_for_exit(Duration::from_secs(10)).await.is_none() {
                    child.signal(libc::SIGKILL);
                }
            }
        }
    }
}

async fn kill_child(slot: &mut Option<ChildProcess>) {
    if let Some(mut child) = slot.take() {
        child.signal(libc::SIGKILL);
        let _ = child.wait_for_exit(Duration::from_secs(10)).await;
    }
}

async fn wait_for_pg(url: &str) -> Result<tokio_postgres::Client> {
    let mut last = None;
    for _ in 0..300 {
        match connect_pg(url).await {
            Ok(client) => return Ok(client),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("postgres never answered")))
}

fn env(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}
