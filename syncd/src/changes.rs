//! The change log's upkeep (`P changes`, laid out in `shared/src/keys/mod.rs`):
//! the lease holder trims it on every heartbeat, and a restore empties it
//! and appends a `reset` entry.
//!
//! Trimming keeps `CHANGES_RETAIN` of history and at most
//! `CHANGES_RETAIN_ENTRIES` entries, whichever is less, but never drops an
//! entry that a consumer group has not acknowledged (`lua/trim_changes.lua`).

use std::sync::LazyLock;
use std::time::Duration;

use taskmaster_shared::keys::Keys;
use taskmaster_shared::redis_pool::{self, RedisPool};

static TRIM: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/trim_changes.lua")));

/// Entries one script call may look at to apply the count bound: a call
/// stays short, and the heartbeat calls again while there is more.
const CHUNK: u64 = 10_000;
/// Calls per heartbeat at most: a huge backlog is trimmed over several.
const MAX_CALLS: usize = 50;

/// Why the upkeep failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no Redis connection")]
    Pool,
}

/// How much history to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub age: Duration,
    pub entries: u64,
}

/// Trims the log to `retention`; how many entries went.
pub async fn trim(
    redis: &RedisPool,
    keys: &Keys,
    retention: Retention,
) -> Result<u64, ChangesError> {
    let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u128;
    let oldest_kept = now_ms.saturating_sub(retention.age.as_millis());
    trim_from(redis, keys, &format!("{oldest_kept}-0"), retention.entries).await
}

async fn trim_from(
    redis: &RedisPool,
    keys: &Keys,
    floor: &str,
    entries: u64,
) -> Result<u64, ChangesError> {
    let mut conn = redis_pool::shared(redis)
        .await
        .map_err(|_| ChangesError::Pool)?;
    let mut total = 0;
    for _ in 0..MAX_CALLS {
        let removed: u64 = TRIM
            .arg(keys.prefix())
            .arg(floor)
            .arg(entries)
            .arg(CHUNK)
            .invoke_async(&mut conn)
            .await?;
        total += removed;
        if removed < CHUNK {
            break;
        }
    }
    Ok(total)
}

/// After a restore: every entry goes (but what a consumer group has not
/// acknowledged), so any position from before answers 410, and one
/// `reset` entry tells live readers to read everything again.
pub async fn reset(redis: &RedisPool, keys: &Keys) -> Result<(), ChangesError> {
    trim_from(redis, keys, "+", 0).await?;
    let mut conn = redis_pool::shared(redis)
        .await
        .map_err(|_| ChangesError::Pool)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    redis::cmd("XADD")
        .arg(keys.changes())
        .arg("*")
        .arg(&[
            ("type", "reset"),
            ("op", "restored"),
            ("id", "0"),
            ("actor", "system"),
            ("auth", "system"),
            ("token", "-"),
            ("request", "-"),
        ])
        .arg("at")
        .arg(now)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}
