//! The hand-off and the clear of a flush, each one script that checks the
//! lease first (see the module docs of [`super`]): only the lease holder
//! takes dirty ids, and only while it still holds the lease does it drop
//! the in-flight sets.

use taskmaster_shared::keys::Keys;
use taskmaster_shared::redis_pool::RedisPool;

use super::{FlushError, FlushReport, Taken, conn};

/// The lease a flush runs under: `P syncd:lease` holds `{instance}|{token}`
/// while this daemon is the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub instance: String,
    pub token: u64,
}

impl Holder {
    /// The lease's value while this holder has it.
    pub(crate) fn lease_value(&self) -> String {
        format!("{}|{}", self.instance, self.token)
    }
}

/// The lease value the scripts check; empty when unfenced.
fn lease_arg(holder: Option<&Holder>) -> String {
    holder.map(Holder::lease_value).unwrap_or_default()
}

/// Moves the dirty ids to the in-flight sets (the hand-off); returns how
/// many ids each type has in flight, and the id counters. Refused
/// ([`FlushError::LeaseLost`]) unless `holder` holds the lease.
pub async fn take(
    redis: &RedisPool,
    keys: &Keys,
    holder: Option<&Holder>,
) -> Result<Taken, FlushError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(include_str!("../lua/take_dirty.lua")));
    let mut conn = conn(redis).await?;
    let counts: Vec<u64> = SCRIPT
        .arg(keys.prefix())
        .arg(lease_arg(holder))
        .invoke_async(&mut conn)
        .await?;
    let count = |i: usize| counts.get(i).copied().unwrap_or(0);
    Ok(Taken {
        pending: [count(0), count(1), count(2), count(3)],
        last_ids: [count(4), count(5), count(6), count(7)],
        handoff: count(8),
    })
}

/// Drops the in-flight sets after their flush committed, only while
/// `holder` still holds the lease (one script); otherwise
/// [`FlushError::LeaseLost`] and the sets stay for the new holder.
pub async fn clear(
    redis: &RedisPool,
    keys: &Keys,
    holder: Option<&Holder>,
    report: &FlushReport,
) -> Result<(), FlushError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(include_str!("../lua/clear_inflight.lua")));
    let mut conn = conn(redis).await?;
    let _: u64 = SCRIPT
        .arg(keys.prefix())
        .arg(lease_arg(holder))
        .arg(report.number)
        .invoke_async(&mut conn)
        .await?;
    Ok(())
}

/// Whether `holder` still holds the lease (always, unfenced).
pub(super) async fn still_holds(
    redis: &RedisPool,
    keys: &Keys,
    holder: Option<&Holder>,
) -> Result<bool, FlushError> {
    let Some(holder) = holder else {
        return Ok(true);
    };
    let mut conn = conn(redis).await?;
    let lease: Option<String> = redis::cmd("GET")
        .arg(keys.syncd_lease())
        .query_async(&mut conn)
        .await?;
    Ok(lease.as_deref() == Some(holder.lease_value().as_str()))
}
