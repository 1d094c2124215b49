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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use taskmaster_shared::config::FeedConfig;
use taskmaster_shared::position::Position;
use tokio::sync::{mpsc, watch};

use super::entry::{Entry, Kind};
use super::filter::Filter;
use super::rights::Rights;
use crate::store::{RawEntry, Store};

/// Entries one read takes at most: half a connection's queue at most, so
/// that one read's burst never overflows a client that keeps up between
/// reads.
const READ_COUNT: usize = 512;

/// Why the hub closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// Its queue was full: resume from the last position received.
    Lagged = 1,
    /// Its credential or its principal is gone.
    Revoked = 2,
    /// A restore replaced the data: read everything again.
    Reset = 3,
    /// The api is shutting down: resume elsewhere or later.
    Shutdown = 4,
    /// The position resumed from is older than the retained log: read
    /// everything again.
    Gone = 5,
}

impl CloseReason {
    /// Its WebSocket close code (4000-4999 are the application's).
    pub fn code(self) -> u16 {
        match self {
            CloseReason::Shutdown => 1001,
            CloseReason::Lagged => 4001,
            CloseReason::Revoked => 4003,
            CloseReason::Reset => 4009,
            CloseReason::Gone => 4010,
        }
    }

    /// Its name in an SSE `close` event and in logs.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Lagged => "lagged",
            CloseReason::Revoked => "revoked",
            CloseReason::Reset => "reset",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Gone => "gone",
        }
    }

    /// What the client should do.
    pub fn advice(self) -> &'static str {
        match self {
            CloseReason::Lagged => "too far behind: reconnect and resume from the last id received",
            CloseReason::Revoked => "the credential is no longer valid: sign in again",
            CloseReason::Reset => "the data was restored: read your lists again, then reconnect",
            CloseReason::Shutdown => {
                "the server is shutting down: reconnect and resume from the last id received"
            }
            CloseReason::Gone => {
                "that position is no longer retained: read your lists again, then reconnect from now"
            }
        }
    }

    fn from_u8(v: u8) -> CloseReason {
        match v {
            2 => CloseReason::Revoked,
            3 => CloseReason::Reset,
            4 => CloseReason::Shutdown,
            5 => CloseReason::Gone,
            _ => CloseReason::Lagged,
        }
    }
}

/// What a connection's queue carries.
#[derive(Debug, Clone)]
pub enum Item {
    Entry(Arc<Entry>),
    /// Its credential may have changed: check it before what follows.
    Recheck,
}

struct Conn {
    rights: Rights,
    filter: Filter,
    tx: mpsc::Sender<Item>,
    closed: Arc<AtomicU8>,
}

struct Registry {
    /// The last position dispatched; `None` until the reader has found
    /// where the log ends.
    last: Option<Position>,
    conns: HashMap<u64, Conn>,
    next_id: u64,
    /// Connections per principal (`None`: the owner header), joined or not.
    per_principal: HashMap<Option<u64>, usize>,
    total: usize,
}

struct Inner {
    registry: Mutex<Registry>,
    config: FeedConfig,
    started: AtomicBool,
    closing: watch::Sender<bool>,
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
        if let Some(conn) = self.hub.lock().conns.get_mut(&self.id) {
            conn.filter = filter;
        }
    }

    /// Leaves the hub and hands back the rights as the hub kept them.
    pub fn leave(self) -> Option<Rights> {
        self.hub.lock().conns.remove(&self.id).map(|c| c.rights)
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.hub.lock().conns.remove(&self.id);
    }
}

impl Hub {
    pub fn new(config: FeedConfig) -> Hub {
        Hub(Arc::new(Inner {
            registry: Mutex::new(Registry {
                last: None,
                conns: HashMap::new(),
                next_id: 0,
                per_principal: HashMap::new(),
                total: 0,
            }),
            config,
            started: AtomicBool::new(false),
            closing: watch::channel(false).0,
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
        let mut r = self.lock();
        for (_, conn) in r.conns.drain() {
            conn.closed
                .store(CloseReason::Shutdown as u8, Ordering::Release);
        }
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
        let (tx, rx) = mpsc::channel(self.0.config.buffer);
        let closed = Arc::new(AtomicU8::new(0));
        let id = r.next_id;
        r.next_id += 1;
        r.conns.insert(
            id,
            Conn {
                rights,
                filter,
                tx,
                closed: closed.clone(),
            },
        );
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
                            close_all(&mut r, CloseReason::Lagged);
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
                let count = READ_COUNT.min(self.0.config.buffer / 2).max(1);
                let read = tokio::select! {
                    read = reader.next(last, count) => read,
                    _ = closing.wait_for(|c| *c) => return,
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
            if let Some(entry) = entry {
                deliver(&mut r, &entry);
            }
            r.last = Some(position);
        }
    }
}

fn close_all(r: &mut Registry, reason: CloseReason) {
    for (_, conn) in r.conns.drain() {
        conn.closed.store(reason as u8, Ordering::Release);
    }
}

/// Hands `entry` to every connection that may see it.
fn deliver(r: &mut Registry, entry: &Arc<Entry>) {
    let mut dropped: Vec<(u64, CloseReason)> = Vec::new();
    for (id, conn) in r.conns.iter_mut() {
        let verdict = conn.rights.admit(entry);
        if verdict.recheck && conn.tx.try_send(Item::Recheck).is_err() {
            dropped.push((*id, CloseReason::Lagged));
            continue;
        }
        if verdict.sees
            && conn.filter.passes(entry)
            && conn.tx.try_send(Item::Entry(entry.clone())).is_err()
        {
            dropped.push((*id, CloseReason::Lagged));
            continue;
        }
        if verdict.gone {
            dropped.push((*id, CloseReason::Revoked));
        }
    }
    if entry.kind == Kind::Reset {
        // Everyone's rights may have changed: they connect again.
        for (id, _) in r.conns.iter() {
            dropped.push((*id, CloseReason::Reset));
        }
    }
    for (id, reason) in dropped {
        if let Some(conn) = r.conns.remove(&id) {
            conn.closed.store(reason as u8, Ordering::Release);
        }
    }
}
