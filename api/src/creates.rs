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

use tokio::sync::{mpsc, oneshot};

pub use crate::store::NewCreate;
use crate::store::{Metered, Store, StoreError, Written};

/// A create's result, with its rate-limit count when it carried one.
pub type Counted = (Written<u64>, Option<Metered>);

/// Most creates sent in one script call (its arguments stay well within
/// what Lua's `unpack` takes).
pub const MAX_BATCH: usize = 256;

struct Pending {
    create: NewCreate,
    answer: oneshot::Sender<Result<Counted, StoreError>>,
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

    /// Creates one task, together with whatever else is queued: its new
    /// id, or the refusal of the rule that refused it (nothing written).
    pub async fn create(&self, create: NewCreate) -> Result<Counted, StoreError> {
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
    let (creates, answers): (Vec<NewCreate>, Vec<_>) =
        batch.into_iter().map(|p| (p.create, p.answer)).unzip();
    match store
        .create_tasks_counted(&creates, &crate::clock::now())
        .await
    {
        Ok(results) => {
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(Ok(result));
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}
