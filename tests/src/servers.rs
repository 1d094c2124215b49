//! Private Redis and PostgreSQL servers for the tests.
//!
//! Each server gets a temporary directory and a free loopback port. As root,
//! PostgreSQL runs as the `postgres` user (initdb and postgres refuse root).
//!
//! Cleanup does not depend on destructors (statics are never dropped, and a
//! crashed test binary runs none): every server is paired with a tiny
//! watchdog shell that waits for the test process to go away, then kills the
//! server and deletes its directory. Servers a single test owns are also
//! stopped by `Drop`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

static SERVER_SEQ: AtomicU32 = AtomicU32::new(0);

/// A free TCP port on 127.0.0.1 (free when asked; taken soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

fn temp_dir(kind: &str) -> Result<PathBuf> {
    let n = SERVER_SEQ.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("taskmaster-test-{}-{kind}-{n}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `uid` and `gid` of the `postgres` user, when the tests run as root.
fn postgres_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Where `initdb` and `postgres` live: `PG_BIN`, the PATH, or the newest
/// `/usr/lib/postgresql/*/bin` (Debian does not put them on the PATH).
fn pg_bin(name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir).join(name));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    versions.sort();
    if let Some((_, path)) = versions.pop() {
        return Ok(path);
    }
    find_in_path(name).with_context(|| {
        format!("`{name}` not found: install PostgreSQL (./deploy/dev.sh test does) or set PG_BIN")
    })
}

fn redis_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    find_in_path("redis-server")
        .or_else(|| Some(PathBuf::from("/usr/bin/redis-server")).filter(|p| p.is_file()))
        .context("`redis-server` not found: install Redis (./deploy/dev.sh test does) or set REDIS_SERVER_BIN")
}

/// Kills `pid` (with `signal`) and removes `dir` once this test process is
/// gone, however it ended.
fn spawn_watchdog(pid: u32, signal: &str, dir: &Path) {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
         kill -{signal} {pid} 2>/dev/null; \
         for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 {pid} 2>/dev/null || break; sleep 0.5; done; \
         kill -KILL {pid} 2>/dev/null; rm -rf '{dir}'",
        parent = std::process::id(),
        dir = dir.display(),
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own process group: a Ctrl-C aimed at the test run must not kill
    // the watchdog before it has cleaned up.
    cmd.process_group(0);
    let _ = cmd.spawn();
}

fn wait_for_port(port: u16, child: &mut Child, log: &Path, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{what} exited with {status} before listening:\n{}",
                tail(log, 40)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{what} did not listen on port {port} within 30 s:\n{}",
                tail(log, 40)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last `lines` lines of a log file (for failure reports).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The password of the api's Redis user in the test servers.
pub const API_REDIS_PASSWORD: &str = "test-api-redis-password";
/// The password of syncd's Redis user in the test servers.
pub const SYNCD_REDIS_PASSWORD: &str = "test-syncd-redis-password";
/// What every test key prefix starts with (`t{n}:`): the ACL's key pattern.
pub const TEST_PREFIX_START: &str = "t";

/// The Redis ACL users of a test server: `deploy/redis/users.acl.template`,
/// the very file production renders, with test passwords and the test
/// prefixes' pattern, so every test proves the shipped ACLs suffice. The
/// harness itself (setup, inspection) is the `default` user, with every
/// right.
fn test_acl() -> Result<String> {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/redis/users.acl.template");
    let text = fs::read_to_string(&template)
        .with_context(|| format!("cannot read {}", template.display()))?;
    Ok(text
        .replace("@PREFIX@", TEST_PREFIX_START)
        .replace("@API_PASSWORD@", &format!(">{API_REDIS_PASSWORD}"))
        .replace("@SYNCD_PASSWORD@", &format!(">{SYNCD_REDIS_PASSWORD}"))
        + "user default on nopass ~* &* +@all\n")
}

/// A private `redis-server`.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Configuration over the defaults (which keep nothing on disk).
    config: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Result<Self> {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// A server with `config` (`redis-server` arguments) over the defaults,
    /// such as `--appendonly yes` to keep its data across [`Self::restart`].
    pub fn start_with(config: &[&str]) -> Result<Self> {
        let dir = temp_dir("redis")?;
        let mut server = RedisServer {
            port: free_port(),
            dir,
            child: None,
            config: config.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.launch()?;
        Ok(server)
    }

    /// The directory of its data (the append-only files are in
    /// `appendonlydir/`).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    fn launch(&mut self) -> Result<()> {
        let log = self.log_path();
        let acl = self.dir.join("users.acl");
        fs::write(&acl, test_acl()?)?;
        let mut child = Command::new(redis_bin()?)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&self.config)
            .args([
                "--databases",
                "16",
                "--maxclients",
                "4000",
                "--loglevel",
                "notice",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--aclfile")
            .arg(&acl)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start redis-server")?;
        spawn_watchdog(child.id(), "KILL", &self.dir);
        wait_for_port(self.port, &mut child, &log, "redis-server")?;
        self.child = Some(child);
        Ok(())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// `redis://127.0.0.1:PORT`: the harness's own, unrestricted user.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The URL the api connects with: its ACL user.
    pub fn api_url(port: u16) -> String {
        format!("redis://taskmaster-api:{API_REDIS_PASSWORD}@127.0.0.1:{port}/0")
    }

    /// The URL syncd (and taskmaster-ctl) connect with: its ACL user.
    pub fn syncd_url(port: u16) -> String {
        format!("redis://taskmaster-syncd:{SYNCD_REDIS_PASSWORD}@127.0.0.1:{port}/0")
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL; its data is gone unless it keeps some).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it and starts it again on the same port and directory.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch()
    }

    /// Starts it after [`Self::stop`], on the same port and directory.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        self.launch()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- redis-server log ({}) ---\n{}",
                self.port,
                tail(&self.log_path(), 30)
            );
        }
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A private PostgreSQL cluster.
pub struct PostgresServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    user: Option<(u32, u32)>,
    /// Commits reach the kernel before they are answered
    /// (`synchronous_commit=on`), so a killed server loses none.
    durable: bool,
}

impl PostgresServer {
    pub fn start() -> Result<Self> {
        Self::start_with(false)
    }

    /// A server whose commits survive `kill -9` of all its processes
    /// (`durable`; `fsync` stays off: only the host's crash would lose
    /// them), for the fault run.
    pub fn start_with(durable: bool) -> Result<Self> {
        let dir = temp_dir("postgres")?;
        let user = postgres_user();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        let data = dir.join("data");
        let mut initdb = Command::new(pg_bin("initdb")?);
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdin(Stdio::null());
        if let Some((uid, gid)) = user {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().context("cannot run initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut server = PostgresServer {
            port: free_port(),
            dir,
            child: None,
            user,
            durable,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> Result<()> {
        let log = self.log_path();
        let acl = self.dir.join("users.acl");
        fs::write(&acl, test_acl()?)?;
        let log_file = fs::File::create(&log)?;
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(&log, Some(uid), Some(gid))?;
        }
        let mut cmd = Command::new(pg_bin("postgres")?);
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
            ])
            // Throwaway data: durability only costs time here.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args([
                "-c",
                if self.durable {
                    "synchronous_commit=on"
                } else {
                    "synchronous_commit=off"
                },
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().context("cannot start postgres")?;
        spawn_watchdog(child.id(), "QUIT", &self.dir);
        wait_for_port(self.port, &mut child, &log, "postgres")?;
        self.child = Some(child);
        Ok(())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A connection string for `dbname` as the superuser `postgres`.
    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{dbname}", self.port)
    }

    /// Stops the server (SIGINT: fast shutdown, sessions are cut off).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch()
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9` of the postmaster and every process it started (as a
    /// host's OOM killer or a power cut would leave it); then it is down.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let all = crate::chaos::procs::tree(child.id());
            for pid in &all {
                crate::chaos::procs::signal(*pid, libc::SIGKILL);
            }
            let _ = child.wait();
            // Children of a killed postmaster are reparented: wait for them
            // to be gone before a new postmaster takes their shared memory.
            let deadline = Instant::now() + Duration::from_secs(10);
            while all.iter().any(|p| crate::chaos::procs::alive(*p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it after [`Self::kill_hard`] or [`Self::stop`].
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        self.launch()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- postgres log ({}) ---\n{}",
                self.port,
                tail(&self.log_path(), 30)
            );
        }
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
