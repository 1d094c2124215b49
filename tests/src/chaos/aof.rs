//! What a host crash does to Redis's append-only file under
//! `appendfsync everysec`: the kernel had the last second of it but had
//! not written it to disk, so it is gone. A `kill -9` alone loses nothing
//! (the kernel still writes what Redis wrote), so the fault run samples
//! the active file's size every 50 ms and, at a Redis "kill" in that mode,
//! cuts the file back to its size one second earlier: the most `everysec`
//! may lose. Redis loads a file cut mid-command (`aof-load-truncated`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much of the file's tail a crash loses.
pub const UNSYNCED: Duration = Duration::from_secs(1);

/// The active (incremental) file named by the manifest.
fn active_file(dir: &Path) -> Option<PathBuf> {
    let manifest =
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).ok()?;
    let name = manifest
        .lines()
        .filter(|l| l.contains("type i"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .next_back()?;
    Some(dir.join("appendonlydir").join(name))
}

/// Samples of (when, file, size), the last few seconds.
#[derive(Clone, Default)]
pub struct Sampler {
    samples: Arc<Mutex<VecDeque<(Instant, PathBuf, u64)>>>,
}

impl Sampler {
    /// Samples `dir`'s active file until the returned task is aborted.
    pub fn start(dir: PathBuf) -> (Sampler, tokio::task::JoinHandle<()>) {
        let sampler = Sampler::default();
        let samples = sampler.samples.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(file) = active_file(&dir) {
                    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    let mut s = samples
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.push_back((Instant::now(), file, size));
                    while s.len() > 200 {
                        s.pop_front();
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        (sampler, task)
    }

    /// After Redis was killed: cuts its active file back to what was on
    /// disk [`UNSYNCED`] ago. Answers the bytes cut.
    pub fn lose_unsynced(&self, dir: &Path) -> u64 {
        let Some(file) = active_file(dir) else {
            return 0;
        };
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let cutoff = Instant::now() - UNSYNCED;
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The last sample before the cutoff; a file begun since then (a
        // rewrite started it, its base is on disk) loses all it holds.
        let kept = samples
            .iter()
            .rev()
            .find(|(at, _, _)| *at <= cutoff)
            .map_or(0, |(_, f, s)| if *f == file { *s } else { 0 });
        let kept = kept.min(size);
        if std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_len(kept))
            .is_ok()
        {
            size - kept
        } else {
            0
        }
    }
}
