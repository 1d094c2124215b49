//! The process's one reader of the change log, and its fan-out.
//!
//! One task per api process blocks on `P changes` (`XREAD`) from the last
//! position it dispatched, and hands every entry to the live connections
//! whose rights admit it (see [`super::rights`]), all under one lock held
//! without waiting on anything: a write costs Redis one append whatever
//! the number of clients or api instances, and the fan-out costs a check
//! per connection and a queue push per recipient.
//!
//! Each connection has a bounded queue (`FEED_BUFFER`). A push that finds
//! it full drops the connection from the hub and marks it `Lagged`: its
//! client is told to resume from the last position it saw. Memory is
//! bounded by the queues, and a slow client never delays the others.
//!
//! A connection joins only once it has read the log up to the hub's
//! position ([`Hub::join`]): whatever the hub dispatches after that reaches
//! it, and entries it already read are dropped by position. So a client
//! resuming from any position gets every entry after it exactly once, in
//! order.
//!
//! Without connections the reader does not read: a process nobody follows
//! pays nothing for the feed. The first connection to join sets the
//! reader's position to its own (it has read the log up to there itself)
//! and wakes it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use taskmaster_shared::config::FeedConfig;
use taskmaster_shared::position::Position;
use tokio::sync::{mpsc, watch};

use super::entry::Entry;
use super::filter::Filter;
use super::registry::{Conn, Registry};
use super::rights::Rights;
use crate::store::{RawEntry, Store};

pub use super::registry::{CloseReason, Item};

/// Entries one read takes at most: half a connection's queue at most, so
/// that one read's burst never overflows a client that keeps up between
/// reads.
const READ_COUNT: usize = 512;

struct Inner {
    registry: Mutex<Registry>,
    config: FeedConfig,
    started: AtomicBool,
    closing: watch::Sender<bool>,
    /// Wakes the idle reader when a first connection joins.
    joined: tokio::sync::Notify,
}

/// The hub. Cheap to clone; one per process (in [`crate::Services`]).
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    PerPrincipal,
    Total,
    ShuttingDown,
}

/// A connection's place in the limits; given back when dropped.
pub struct Slot {
    hub: Hub,
    principal: Option<u64>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut r = self.hub.lock();
        r.total = r.total.saturating_sub(1);
        r.meters.connections.set(r.total as f64);
        if let Some(n) = r.per_principal.get_mut(&self.principal) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                r.per_principal.remove(&self.principal);
            }
        }
    }
}

/// A joined connection: its queue. Leaves the hub when dropped.
pub struct Joined {
    hub: Hub,
    id: u64,
    pub rx: mpsc::Receiver<Item>,
    closed: Arc<AtomicU8>,
}

impl Joined {
    /// Why the hub closed it (once its queue has ended).
    pub fn reason(&self) -> CloseReason {
        CloseReason::from_u8(self.closed.load(Ordering::Acquire))
    }

    pub fn set_filter(&self, filter: Filter) {
        self.hub.lock().set_filter(self.id, filter);
    }

    /// Leaves the hub and hands back the rights as the hub kept them.
    pub fn leave(self) -> Option<Rights> {
        self.hub.lock().remove(self.id).map(|c| c.rights)
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.hub.lock().remove(self.id);
    }
}

impl Hub {
    pub fn new(config: FeedConfig, meters: crate::metrics::FeedMeters) -> Hub {
        Hub(Arc::new(Inner {
            registry: Mutex::new(Registry::metered(meters)),
            config,
            started: AtomicBool::new(false),
            closing: watch::channel(false).0,
            joined: tokio::sync::Notify::new(),
        }))
    }

    pub fn config(&self) -> &FeedConfig {
        &self.0.config
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic under the lock leaves plain data behind: go on with it.
        self.0.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the reader on the current runtime, once per hub.
    pub fn start(&self, store: Store) {
        if self.0.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move { hub.read(store).await });
    }

    /// Resolves when the api shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.0.closing.subscribe()
    }

    /// Closes every connection (shutdown): clients resume elsewhere.
    pub fn shut(&self) {
        self.0.closing.send_replace(true);
        self.lock().close_all(CloseReason::Shutdown);
    }

    /// Takes a place for a new connection of `principal`.
    pub fn admit(&self, principal: Option<u64>) -> Result<Slot, Refused> {
        if *self.0.closing.borrow() {
            return Err(Refused::ShuttingDown);
        }
        let mut r = self.lock();
        if r.total >= self.0.config.max_connections {
            return Err(Refused::Total);
        }
        let n = r.per_principal.entry(principal).or_default();
        if *n >= self.0.config.max_per_principal {
            return Err(Refused::PerPrincipal);
        }
        *n += 1;
        r.total += 1;
        r.meters.connections.set(r.total as f64);
        Ok(Slot {
            hub: self.clone(),
            principal,
        })
    }

    /// Joins a connection that has read the log up to `read_to`, if the
    /// hub has dispatched no later entry (otherwise the rights come back:
    /// read on, then join).
    pub fn join(
        &self,
        rights: Rights,
        filter: Filter,
        read_to: Position,
    ) -> Result<Joined, Rights> {
        let mut r = self.lock();
        match r.last {
            Some(last) if last <= read_to => {}
            _ => return Err(rights),
        }
        if r.is_empty() {
            // The reader was idle: it goes on from here.
            r.last = Some(read_to);
            self.0.joined.notify_one();
        }
        let (tx, rx) = mpsc::channel(self.0.config.buffer);
        let closed = Arc::new(AtomicU8::new(0));
        let id = r.insert(Conn {
            rights,
            filter,
            tx,
            closed: closed.clone(),
        });
        Ok(Joined {
            hub: self.clone(),
            id,
            rx,
            closed,
        })
    }

    /// The last position dispatched (`None` before the reader started).
    pub fn position(&self) -> Option<Position> {
        self.lock().last
    }

    async fn read(&self, store: Store) {
        let mut closing = self.closing();
        loop {
            if *closing.borrow() {
                return;
            }
            let mut reader = match store.changes_reader().await {
                Ok(reader) => reader,
                Err(e) => {
                    tracing::warn!(error = %e, "feed: cannot connect to read the change log; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            match store.changes_bounds().await {
                Ok(bounds) => {
                    let mut r = self.lock();
                    match r.last {
                        None => r.last = Some(bounds.last),
                        // Entries the hub never read were trimmed meanwhile:
                        // its clients resume (and learn they must re-read).
                        Some(last) if bounds.max_deleted > last => {
                            r.last = Some(bounds.last);
                            r.close_all(CloseReason::Lagged);
                        }
                        Some(_) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "feed: cannot read the change log's bounds; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            while let Some(last) = self.position() {
                if self.lock().is_empty() {
                    tokio::select! {
                        () = self.0.joined.notified() => continue,
                        () = crate::server::until_true(&mut closing) => return,
                    }
                }
                let count = READ_COUNT.min(self.0.config.buffer / 2).max(1);
                let read = tokio::select! {
                    read = reader.next(last, count) => read,
                    () = crate::server::until_true(&mut closing) => return,
                };
                match read {
                    Ok(raw) => self.dispatch(raw),
                    Err(e) => {
                        tracing::warn!(error = %e, "feed: lost the change log's read; reconnecting");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
        }
    }

    fn dispatch(&self, raw: Vec<RawEntry>) {
        let entries: Vec<(Position, Option<Arc<Entry>>)> = raw
            .into_iter()
            .map(|(position, fields)| match Entry::parse(position, &fields) {
                Ok(e) => (position, Some(Arc::new(e))),
                Err(e) => {
                    tracing::warn!(error = %e, "feed: skipping an entry");
                    (position, None)
                }
            })
            .collect();
        let mut r = self.lock();
        for (position, entry) in entries {
            // Read before a first connection set the position past it.
            if r.last.is_some_and(|last| position <= last) {
                continue;
            }
            if let Some(entry) = entry {
                r.deliver(&entry);
            }
            r.last = Some(position);
        }
    }
}
