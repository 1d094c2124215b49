//! What the soak samples in Redis besides the load's own figures: Redis's
//! memory, the rows waiting to be written behind and since when, and the
//! change log's length (the processes' memory and open files come from
//! [`crate::chaos::procs`]).

use taskmaster_shared::keys::{Keys, RowType};

/// Redis's side of one sample.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedisSample {
    pub used_memory: u64,
    /// Rows marked dirty or in flight (every type).
    pub pending: u64,
    /// Seconds since the oldest change not yet in PostgreSQL.
    pub lag_secs: f64,
    /// Entries in the change log stream.
    pub change_log: u64,
}

pub async fn redis(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> redis::RedisResult<RedisSample> {
    let mut pipe = redis::pipe();
    pipe.cmd("INFO").arg("memory");
    for t in RowType::ALL {
        pipe.cmd("SCARD").arg(keys.dirty(t));
        pipe.cmd("SCARD").arg(keys.inflight(t));
    }
    pipe.cmd("GET").arg(keys.dirty_since());
    pipe.cmd("GET").arg(keys.inflight_since());
    pipe.cmd("XLEN").arg(keys.changes());
    let values: Vec<redis::Value> = pipe.query_async(conn).await?;
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        _ => String::new(),
    };
    let int = |v: &redis::Value| match v {
        redis::Value::Int(n) => *n as u64,
        _ => 0,
    };
    let info = text(&values[0]);
    let used_memory = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let pending = values[1..9].iter().map(int).sum();
    let now = chrono::Utc::now();
    let lag_secs = [&values[9], &values[10]]
        .into_iter()
        .filter_map(|v| chrono::DateTime::parse_from_rfc3339(&text(v)).ok())
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0)
        .fold(0.0, f64::max);
    Ok(RedisSample {
        used_memory,
        pending,
        lag_secs,
        change_log: int(&values[11]),
    })
}
