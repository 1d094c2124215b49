//! The audit log: syncd reads the change log (`P changes`) as the consumer
//! group `audit`, appends one row per entry to PostgreSQL's `audit_log`
//! ([`write`]) and acknowledges the entries only after that transaction
//! commits; it answers the api's queries for the records PostgreSQL holds
//! ([`query`]).
//!
//! Exactly once, from at-least-once reading: a crash between the commit
//! and the acknowledgement leaves the entries pending; they are read again
//! (pending entries first, at every start) and inserted with ON CONFLICT
//! DO NOTHING on the stream id, so nothing is written twice. While
//! PostgreSQL is down the batch is retried with capped backoff and nothing
//! is acknowledged: the stream keeps every entry (its trim never passes
//! the group, see `lua/trim_changes.lua`), and `/admin/status` shows the
//! backlog.
//!
//! The consumer runs on its own task with its own PostgreSQL thread
//! ([`crate::pg::PgWorker`]), so neither a flush nor a slow query holds it
//! up, and it holds up neither. Every syncd instance runs it, the standby
//! too, under the one consumer name: appending is idempotent, so sharing
//! the pending entries is safe, and a standby keeps the log going while
//! the active daemon is gone.

pub mod query;
pub mod write;

use std::time::Duration;

use taskmaster_shared::audit::Record;
use taskmaster_shared::config::SyncdFault;
use taskmaster_shared::keys::Keys;
use tokio::sync::mpsc;

use crate::Control;
use crate::groups::{Entry, ack, group_connection, read};
use crate::pg::PgWorker;

const RETRY_MAX: Duration = Duration::from_secs(30);

/// Reads the change log into the audit log until `control` closes (the
/// daemon stopped).
pub async fn consume(
    client: redis::Client,
    keys: Keys,
    pg: PgWorker,
    fault: Option<SyncdFault>,
    control: mpsc::Sender<Control>,
) {
    let stopped = || control.is_closed();
    while !stopped() {
        let mut consumer = match Consumer::connect(&client, &keys, pg.clone(), fault).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "audit: cannot reach Redis or make the group");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // What this consumer was given and never acknowledged comes first,
        // and again whenever the log is idle: an entry Redis delivered to
        // this consumer name whose reply never arrived (a read cut off by
        // its timeout after a long pause of this process, or taken by the
        // other syncd under the same name as it stopped) stays pending,
        // and only a read of pending entries returns it. Without this the
        // fault run saw one entry pending for good, its record missing
        // from the audit log and the backlog stuck at 1 (seed 21598).
        let mut pending = true;
        while !stopped() {
            match consumer.batch(pending, !pending, &stopped).await {
                Ok(0) if pending => pending = false,
                Ok(0) => {
                    pending = true;
                    consumer.pending_from = "0".to_owned();
                }
                Ok(_) => {}
                Err(e) => {
                    // Whatever was read and not acknowledged is read again
                    // as pending, and appended again: nothing twice.
                    tracing::warn!(error = %e, "audit: lost the change log's read; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Appends everything the group has not acknowledged, then returns how
/// many entries it appended (for the benchmark, `bench-flush`).
pub async fn catch_up(
    client: &redis::Client,
    keys: &Keys,
    pg: PgWorker,
) -> redis::RedisResult<u64> {
    let mut consumer = Consumer::connect(client, keys, pg, None).await?;
    let mut total = 0;
    for pending in [true, false] {
        loop {
            let n = consumer.batch(pending, false, &|| false).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

/// The group's reader on one connection.
struct Consumer {
    conn: redis::aio::MultiplexedConnection,
    stream: String,
    pg: PgWorker,
    fault: Option<SyncdFault>,
    /// The next batch, read while the previous one was being appended.
    ahead: Option<Vec<Entry>>,
    /// Where the next read of pending entries starts (after the last one
    /// read): pending entries stay pending until acknowledged, so reading
    /// from `0` again would return the batch being appended.
    pending_from: String,
}

impl Consumer {
    async fn connect(
        client: &redis::Client,
        keys: &Keys,
        pg: PgWorker,
        fault: Option<SyncdFault>,
    ) -> redis::RedisResult<Consumer> {
        let stream = keys.changes();
        let conn = group_connection(client, &stream, Keys::AUDIT_GROUP).await?;
        Ok(Consumer {
            conn,
            stream,
            pg,
            fault,
            ahead: None,
            pending_from: "0".to_owned(),
        })
    }

    /// Appends one batch (this consumer's pending entries, or new ones,
    /// waiting up to [`crate::groups::BLOCK_MS`] for them when `block`) and acknowledges
    /// it; how many entries it held (0 also when `stopped` while the batch
    /// could not be appended: then nothing is acknowledged). The next
    /// batch is read while PostgreSQL appends this one.
    async fn batch(
        &mut self,
        pending: bool,
        block: bool,
        stopped: &(dyn Fn() -> bool + Sync),
    ) -> redis::RedisResult<usize> {
        let from = |c: &Consumer| {
            if pending {
                c.pending_from.clone()
            } else {
                ">".to_owned()
            }
        };
        let entries = match self.ahead.take() {
            Some(entries) => entries,
            None => {
                let start = from(self);
                read(
                    &mut self.conn,
                    &self.stream,
                    Keys::AUDIT_GROUP,
                    &start,
                    block,
                )
                .await?
            }
        };
        let Some((last, _)) = entries.last() else {
            return Ok(0);
        };
        if pending {
            self.pending_from = last.to_string();
        }
        let ids: Vec<String> = entries.iter().map(|(p, _)| p.to_string()).collect();
        let records: Vec<Record> = entries
            .iter()
            .map(|(p, fields)| Record::from_entry(*p, fields))
            .collect();
        let mut conn = self.conn.clone();
        let next_from = from(self);
        let (appended, next) = tokio::join!(
            append(&self.pg, records, stopped),
            read(
                &mut conn,
                &self.stream,
                Keys::AUDIT_GROUP,
                &next_from,
                false
            )
        );
        if !appended {
            return Ok(0);
        }
        if self.fault == Some(SyncdFault::AuditAfterCommit) {
            tracing::error!("SYNCD_FAULT=audit_after_commit: aborting before the acknowledgement");
            std::process::abort();
        }
        ack(&mut self.conn, &self.stream, Keys::AUDIT_GROUP, &ids).await?;
        // A read ahead that failed may have been delivered all the same
        // (its reply lost): its entries are pending now, so the consumer
        // starts again, pending entries first.
        self.ahead = Some(next?).filter(|n| !n.is_empty());
        Ok(ids.len())
    }
}

/// Appends `records`, retrying until PostgreSQL takes them (`true`) or
/// `stopped` (`false`).
async fn append(pg: &PgWorker, records: Vec<Record>, stopped: &(dyn Fn() -> bool + Sync)) -> bool {
    let records = std::sync::Arc::new(records);
    let mut backoff = Duration::from_millis(250);
    loop {
        let batch = records.clone();
        match pg
            .run(move |client| Ok(write::append(client, &batch)?))
            .await
        {
            Ok(written) => {
                tracing::debug!(
                    audit.read = records.len(),
                    audit.written = written,
                    "audit log appended"
                );
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "audit: cannot append; the entries stay pending");
            }
        }
        if stopped() {
            return false;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}
