//! Group commit for task creation.
//!
//! Creating a task is the busiest write, and most of what it costs Redis is
//! the fixed price of running a script: reading and parsing the call, the
//! script's preamble, the reply. So the creates that reach one shard at the
//! same moment are handed to [`CreateBatcher`], which sends them to Redis
//! as **one** `create_tasks` script call. Nothing waits for company: the
//! batcher takes whatever is queued when it runs (the requests whose bytes
//! arrived in the same turn of the shard's event loop), so under light
//! load a batch is one create, and under heavy load batches grow by
//! themselves.
//!
//! Each create in a batch is still checked and answered on its own (a
//! refused one writes nothing and does not affect the others), and the
//! whole batch is one atomic Redis step: rows, indexes, dirty set and one
//! notification per row, exactly as a lone create would write them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::Value;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Outcome, SCRIPTS, Store, StoreError, string};

/// Most creates sent in one script call (its arguments stay well within
/// what Lua's `unpack` takes).
pub const MAX_BATCH: usize = 256;

/// One task to create.
pub struct NewCreate {
    pub user: u64,
    pub group: u64,
    /// The caller who must administer the group, or empty.
    pub admin_check: String,
    /// The credential version the user must still have, or empty.
    pub guard: String,
    /// The row's JSON after its id (see [`crate::store::NewTaskRow::tail`]).
    pub tail: String,
}

/// What became of one create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Stored under this id.
    Id(u64),
    /// Refused by a rule, nothing written: the script's code
    /// (`STALE_CREDENTIALS`, `USER_NOT_FOUND`, `GROUP_NOT_FOUND`,
    /// `NOT_MEMBER`, `FORBIDDEN_GROUP`).
    Refused(String),
}

struct Pending {
    create: NewCreate,
    answer: oneshot::Sender<Result<Created, StoreError>>,
}

/// The batcher of one shard: a queue, drained by a task on the shard's
/// runtime.
#[derive(Clone)]
pub struct CreateBatcher {
    queue: mpsc::UnboundedSender<Pending>,
    largest: Arc<AtomicUsize>,
}

impl CreateBatcher {
    /// Starts the draining task on the current runtime; it ends when the
    /// last handle is dropped.
    pub fn start(store: Store) -> Self {
        let (queue, mut pending) = mpsc::unbounded_channel::<Pending>();
        let largest = Arc::new(AtomicUsize::new(0));
        let seen = largest.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
                seen.fetch_max(batch.len(), Ordering::Relaxed);
                // The next batch may form while this one is in Redis.
                tokio::spawn(send(store.clone(), std::mem::take(&mut batch)));
            }
        });
        CreateBatcher { queue, largest }
    }

    /// Creates one task, together with whatever else is queued.
    pub async fn create(&self, create: NewCreate) -> Result<Created, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Pending { create, answer })
            .map_err(|_| StoreError::Malformed("the create batcher has stopped"))?;
        answered
            .await
            .map_err(|_| StoreError::Malformed("the create batcher dropped a create"))?
    }

    /// The most creates sent in one call so far (for tests and tuning).
    pub fn largest_batch(&self) -> usize {
        self.largest.load(Ordering::Relaxed)
    }
}

/// Sends one batch and answers each of its creates.
async fn send(store: Store, batch: Vec<Pending>) {
    let now = crate::routes::now();
    let mut inv = store.invocation(&SCRIPTS.create_tasks, Some(&now));
    for p in &batch {
        let c = &p.create;
        inv.arg(c.user)
            .arg(c.group)
            .arg(&c.admin_check)
            .arg(&c.guard)
            .arg(&c.tail);
    }
    let outcome = store
        .eval(&inv)
        .await
        .and_then(|reply| parse(reply, batch.len()));
    match outcome {
        Ok(results) => {
            for (p, result) in batch.into_iter().zip(results) {
                let _ = p.answer.send(Ok(result));
            }
        }
        Err(e) => {
            for p in batch {
                let _ = p.answer.send(Err(e.clone()));
            }
        }
    }
}

/// `{'OK', id or code, …}` (one entry per create) or `{'ERR', code}`.
fn parse(reply: Value, expected: usize) -> Result<Vec<Created>, StoreError> {
    let items = match crate::store::outcome(reply)? {
        Outcome::Ok(items) => items,
        // MAINTENANCE is an error of its own; nothing else refuses a batch
        // as a whole.
        Outcome::Refused { .. } => {
            return Err(StoreError::Malformed("create_tasks refused as a whole"));
        }
    };
    if items.len() != expected {
        return Err(StoreError::Malformed("create_tasks answered a wrong count"));
    }
    items
        .iter()
        .map(|item| {
            let text = string(item).ok_or(StoreError::Malformed("create_tasks entry"))?;
            Ok(match text.parse::<u64>() {
                Ok(id) => Created::Id(id),
                Err(_) => Created::Refused(text),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn each_create_gets_its_own_entry() {
        let reply = Value::Array(vec![bulk("OK"), bulk("17"), bulk("NOT_MEMBER"), bulk("18")]);
        assert_eq!(
            parse(reply, 3).expect("parsed"),
            [
                Created::Id(17),
                Created::Refused("NOT_MEMBER".into()),
                Created::Id(18)
            ]
        );
    }

    #[test]
    fn a_short_or_refused_reply_fails_the_whole_batch() {
        let short = Value::Array(vec![bulk("OK"), bulk("17")]);
        assert!(matches!(parse(short, 2), Err(StoreError::Malformed(_))));
        let maintenance = Value::Array(vec![bulk("ERR"), bulk("MAINTENANCE"), bulk("")]);
        assert!(matches!(
            parse(maintenance, 1),
            Err(StoreError::Maintenance)
        ));
        assert!(parse(Value::Nil, 1).is_err());
    }
}
