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
}

/// Where cargo put the workspace's binaries (next to this test's `deps/`).
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, \
         which ./deploy/dev.sh test runs)",
        path.display()
    );
    path
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
        let file = std::fs::File::create(&log)?;
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
        let _ = std::fs::remove_file(&self.log);
    }
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
