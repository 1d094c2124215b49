//! Every task of a list read in chunks without an order index: what the
//! owner's views and the statistics read (`crate::paging`'s `scan`), and
//! the owner's pages by id.
//!
//! * Every task: by id, straight from the id counter (`P seq:tasks`):
//!   ids are handed out in order and never reused, so a chunk is one
//!   `MGET` of the next ids' rows, a deleted task a gap. Exact and in
//!   order with no index to keep on a create.
//! * A user's or a group's tasks: `SSCAN` of its task set, then `MGET`.
//!   `SSCAN` may give an id twice while the set is resized; the caller
//!   drops repeats.

use redis::Value;
use taskmaster_shared::keys::RowType;

use super::pages::OrderScope;
use super::{Store, StoreError};

/// Ids one step reads. Small, because a step's reply (~110 KB at 200
/// rows) holds up every request behind it on the shard's one Redis
/// connection: at 500 a GET's p99 while the owner's statistics ran was
/// 1.9× its idle p99, at 200 1.3×, for 10% more time in the statistics
/// (1,000,000 tasks as in the lists at scale of `deploy/bench.sh`, the
/// two release builds in alternating rounds).
pub const SCAN_CHUNK: usize = 200;

/// The task ids handed out: `1..=top` but the `gaps` (inclusive ranges,
/// ascending), which a counter skipped and no task ever had.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskIds {
    pub top: u64,
    pub gaps: Vec<(u64, u64)>,
}

impl TaskIds {
    /// `id`, or past the gap it lies in: the first id above it when
    /// reading upwards, the first below when reading downwards (0: none).
    pub fn step_over(&self, id: u64, upwards: bool) -> u64 {
        match self
            .gaps
            .iter()
            .find(|(from, to)| (*from..=*to).contains(&id))
        {
            Some((_, to)) if upwards => to + 1,
            Some((from, _)) => from - 1,
            None => id,
        }
    }
}

/// A row as stored, if it is one (`None`: missing).
pub type StoredRow = Option<Vec<u8>>;

impl Store {
    /// The highest task id handed out so far (0: none), and the ranges
    /// below it that were skipped (`P meta:id_gaps`), in one round trip.
    pub async fn task_ids(&self) -> Result<TaskIds, StoreError> {
        let mut pipe = redis::pipe();
        pipe.get(self.keys.sequence(RowType::Task))
            .zrange(self.keys.task_id_gaps(), 0, -1);
        let (last, gaps): (Option<u64>, Vec<String>) = self.query(&pipe).await?;
        let mut gaps: Vec<(u64, u64)> = gaps
            .iter()
            .filter_map(|g| {
                let (from, to) = g.split_once('-')?;
                Some((from.parse().ok()?, to.parse().ok()?))
            })
            .filter(|(from, to)| from <= to)
            .collect();
        gaps.sort_unstable();
        Ok(TaskIds {
            top: last.unwrap_or(0),
            gaps,
        })
    }

    /// The rows of tasks `ids`, in that order.
    pub async fn rows_by_id(&self, ids: &[u64]) -> Result<Vec<StoredRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for id in ids {
            mget.arg(self.keys.row(RowType::Task, *id));
        }
        let rows: Vec<Value> = self.query_one(&mget).await?;
        Ok(rows
            .into_iter()
            .map(|v| match v {
                Value::BulkString(raw) if super::is_object_text(&raw) => Some(raw),
                _ => None,
            })
            .collect())
    }

    /// One step of a scan of a user's or a group's tasks from `cursor` (0
    /// to start): the ids with their rows, and the next cursor (0: done).
    pub async fn scope_rows(
        &self,
        scope: OrderScope,
        cursor: u64,
    ) -> Result<(Vec<(u64, StoredRow)>, u64), StoreError> {
        let key = match scope {
            OrderScope::User(u) => self.keys.user_tasks(u.get()),
            OrderScope::Group(g) => self.keys.group_tasks(g.get()),
            OrderScope::All => return Err(StoreError::Malformed("no task set of every task")),
        };
        let (next, ids): (u64, Vec<u64>) = self
            .query_one(
                redis::cmd("SSCAN")
                    .arg(key)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(SCAN_CHUNK),
            )
            .await?;
        let rows = self.rows_by_id(&ids).await?;
        Ok((ids.into_iter().zip(rows).collect(), next))
    }

    /// How many tasks a user's or a group's list holds (`None` for every
    /// task: not known without counting).
    pub async fn list_size(&self, scope: OrderScope) -> Result<Option<u64>, StoreError> {
        let key = match scope {
            OrderScope::User(u) => self.keys.user_tasks(u.get()),
            OrderScope::Group(g) => self.keys.group_tasks(g.get()),
            OrderScope::All => return Ok(None),
        };
        Ok(Some(self.query_one(redis::cmd("SCARD").arg(key)).await?))
    }
}
