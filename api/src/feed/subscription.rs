//! One client's way through the log: from a position (or from now), first
//! reading the retained log page by page, then joined to the hub for what
//! comes next, with no gap and no repeat between the two (see
//! [`super::hub`]). WebSocket and SSE connections both drive one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use taskmaster_shared::position::Position;
use tokio::sync::mpsc::error::TryRecvError;

use super::entry::Entry;
use super::filter::Filter;
use super::hub::{CloseReason, Hub, Item, Joined, Slot};
use super::rights::Rights;
use crate::store::{Store, StoreError};

/// Entries read from Redis at a time while catching up.
pub const PAGE: usize = 256;

/// What a connection does next.
#[derive(Debug, Clone)]
pub enum Next {
    /// Send it.
    Entry(Arc<Entry>),
    /// Check the credential again before anything later.
    Recheck,
    /// Close, for this reason.
    Closed(CloseReason),
}

/// Why a subscription could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The position is older than the retained log, or not one of its.
    #[error("position no longer retained")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Subscription {
    hub: Hub,
    store: Store,
    /// The last position read (delivered or not).
    read_to: Position,
    /// The rights while catching up; the hub keeps them once joined.
    rights: Option<Rights>,
    filter: Filter,
    page: VecDeque<Next>,
    joined: Option<Joined>,
    ended: bool,
    _slot: Slot,
}

/// What an item of the hub's queue asks for: `None` for an entry at or
/// before `read_to` (read while catching up); otherwise `read_to` moves on.
fn from_hub(read_to: &mut Position, item: Item) -> Option<Next> {
    match item {
        Item::Entry(e) if e.position <= *read_to => None,
        Item::Entry(e) => {
            *read_to = e.position;
            Some(Next::Entry(e))
        }
        Item::Recheck => Some(Next::Recheck),
    }
}

/// Whether the log still holds every entry after `from`.
pub async fn retained(store: &Store, from: Position) -> Result<bool, StoreError> {
    Ok(store.changes_bounds().await?.holds_after(from))
}

impl Subscription {
    /// Starts after `from`, or from now.
    pub async fn open(
        hub: Hub,
        store: Store,
        rights: Rights,
        filter: Filter,
        from: Option<Position>,
        slot: Slot,
    ) -> Result<Subscription, StartError> {
        let read_to = match from {
            Some(from) => {
                if !retained(&store, from).await? {
                    return Err(StartError::Gone);
                }
                from
            }
            // The log's end, not the hub's position: an idle hub's is old.
            None => store.changes_bounds().await?.last,
        };
        Ok(Subscription {
            hub,
            store,
            read_to,
            rights: Some(rights),
            filter,
            page: VecDeque::new(),
            joined: None,
            ended: false,
            _slot: slot,
        })
    }

    /// Starts again after `from` (a client's `resume_from`).
    pub async fn resume(&mut self, from: Position) -> Result<(), StartError> {
        if !retained(&self.store, from).await? {
            return Err(StartError::Gone);
        }
        if let Some(joined) = self.joined.take()
            && let Some(rights) = joined.leave()
        {
            self.rights = Some(rights);
        }
        if self.rights.is_none() {
            // The hub had dropped it (lagged, revoked): nothing to resume.
            return Err(StartError::Gone);
        }
        self.page.clear();
        self.read_to = from;
        self.ended = false;
        Ok(())
    }

    pub fn set_filter(&mut self, filter: Filter) {
        if let Some(joined) = &self.joined {
            joined.set_filter(filter.clone());
        }
        self.filter = filter;
    }

    /// The next thing to do.
    pub async fn next(&mut self) -> Result<Next, StoreError> {
        loop {
            if let Some(next) = self.page.pop_front() {
                return Ok(next);
            }
            if let Some(joined) = &mut self.joined {
                match joined.rx.recv().await {
                    Some(item) => match from_hub(&mut self.read_to, item) {
                        Some(next) => return Ok(next),
                        None => continue,
                    },
                    None => return Ok(Next::Closed(joined.reason())),
                }
            }
            if self.ended {
                return Ok(Next::Closed(CloseReason::Revoked));
            }
            self.catch_up().await?;
        }
    }

    /// What is ready now, without waiting: more to send with an entry in
    /// one write.
    pub fn ready(&mut self) -> Option<Next> {
        if let Some(next) = self.page.pop_front() {
            return Some(next);
        }
        let joined = self.joined.as_mut()?;
        loop {
            match joined.rx.try_recv() {
                Ok(item) => {
                    if let Some(next) = from_hub(&mut self.read_to, item) {
                        return Some(next);
                    }
                }
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => return Some(Next::Closed(joined.reason())),
            }
        }
    }

    /// Reads one page after `read_to`; joins the hub at the log's end.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        let page = self.store.changes_after(self.read_to, PAGE).await?;
        if page.max_deleted > self.read_to {
            self.page.push_back(Next::Closed(CloseReason::Gone));
            self.ended = true;
            return Ok(());
        }
        let full = page.entries.len() == PAGE;
        let Some(rights) = self.rights.as_mut() else {
            return Ok(());
        };
        for (position, fields) in page.entries {
            self.read_to = position;
            let Ok(entry) = Entry::parse(position, &fields) else {
                continue;
            };
            let verdict = rights.admit(&entry);
            if verdict.recheck {
                self.page.push_back(Next::Recheck);
            }
            if verdict.sees && self.filter.passes(&entry) {
                self.page.push_back(Next::Entry(Arc::new(entry)));
            }
            if verdict.gone {
                self.page.push_back(Next::Closed(CloseReason::Revoked));
                self.ended = true;
                return Ok(());
            }
        }
        if !full && let Some(rights) = self.rights.take() {
            match self.hub.join(rights, self.filter.clone(), self.read_to) {
                Ok(joined) => self.joined = Some(joined),
                Err(rights) => {
                    self.rights = Some(rights);
                    if self.hub.position().is_none() {
                        // The reader has not started yet.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        Ok(())
    }
}
