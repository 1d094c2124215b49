//! Real binaries of the workspace as child processes, and waiting for a
//! condition.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{servers, unique};

/// A real binary of the workspace running as a child process; its output
/// goes to a file that is printed if the test fails.
pub struct ChildProcess {
    pub child: tokio::process::Child,
    name: String,
    log: PathBuf,
    /// A log the caller named is kept; a temporary one is removed.
    keep_log: bool,
}

/// Where cargo put the workspace's binaries: next to this test's `deps/`,
/// or next to this program when it is one of them (`chaos`).
///
/// With `TASKMASTER_BUILD_BINS=1` the binaries are built first, once per
/// test process: `cargo test -p taskmaster-tests` builds the libraries the
/// tests link but not the api's and syncd's programs they spawn, so the
/// mutation campaign (`deploy/mutants.sh`), which changes their code
/// between runs, sets it.
pub fn binary_path(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if std::env::var_os("TASKMASTER_BUILD_BINS").is_some_and(|v| v == "1") {
        BUILT.get_or_init(build_binaries);
    }
    let exe = std::env::current_exe().expect("current exe");
    let here = exe.parent().expect("exe dir");
    if here.join(name).is_file() {
        return here.join(name);
    }
    let dir = here.parent().expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, \
         which ./deploy/dev.sh test runs)",
        path.display()
    );
    path
}

fn build_binaries() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--bins",
            "-p",
            "taskmaster-api",
            "-p",
            "taskmaster-syncd",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the binaries failed");
}

impl ChildProcess {
    /// Starts `name` (e.g. `taskmaster-syncd`) with exactly `env` added to a
    /// clean environment (PATH and HOME kept).
    pub fn spawn(name: &str, env: &HashMap<String, String>) -> Result<Self> {
        let log = std::env::temp_dir().join(format!(
            "taskmaster-test-{}-{name}-{}.log",
            std::process::id(),
            unique()
        ));
        let mut child = Self::spawn_logged(name, env, &log)?;
        child.keep_log = false;
        Ok(child)
    }

    /// Starts `name` as [`Self::spawn`] does, appending its output to `log`,
    /// which is kept.
    pub fn spawn_logged(
        name: &str,
        env: &HashMap<String, String>,
        log: &std::path::Path,
    ) -> Result<Self> {
        let log = log.to_path_buf();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = tokio::process::Command::new(binary_path(name));
        cmd.env_clear();
        for var in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("CHILD_LOG").unwrap_or_else(|_| "info".into()),
        )
        .envs(env)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(ChildProcess {
            child,
            name: name.to_owned(),
            log,
            keep_log: true,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id().map(|p| p as i32).unwrap_or(-1)
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// Waits for the exit code, at most `limit`.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> Option<i32> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => None,
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} output ---\n{}",
                self.name,
                servers::tail(&self.log, 60)
            );
        }
        let _ = self.child.start_kill();
        if !self.keep_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Runs `run` to its end, unless SIGTERM or SIGINT comes first: then
/// `run` is dropped, and with it every server and process it started
/// (each kills its own on drop), and the program exits 130. For the
/// campaign programs (`chaos`, `soak`), which start whole systems.
pub async fn unless_stopped<F: std::future::Future>(program: &str, run: F) -> F::Output {
    let signal = taskmaster_shared::shutdown::signal_received();
    let outcome = tokio::select! {
        outcome = run => Some(outcome),
        _ = signal => None,
    };
    outcome.unwrap_or_else(|| {
        eprintln!("{program}: stopped by a signal; every process it started is stopped");
        std::process::exit(130)
    })
}

/// Polls `check` every 50 ms until it returns `Some`, at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
