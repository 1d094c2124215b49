//! `GET /changes`: the log as pages, for clients that poll.

use std::sync::Arc;

use taskmaster_shared::position::Position;

use super::entry::Entry;
use super::filter::Filter;
use super::rights::Rights;
use super::subscription::StartError;
use crate::store::Store;

/// Entries read from Redis at a time.
const READ: usize = 1_000;
/// Entries one request reads at most, whatever it finds visible: a
/// principal who may see little of a busy log gets `more` and a later
/// position rather than a long wait.
const SCAN_MAX: usize = 10_000;

/// A page of what the caller may see.
pub struct Pulled {
    pub entries: Vec<Arc<Entry>>,
    /// Where to go on from: the last position read, seen or not.
    pub next: Position,
    /// Whether the log holds more after `next`.
    pub more: bool,
}

/// The entries after `since` that `rights` may see and `filter` keeps, at
/// most `limit`; from now (nothing, and the log's end) without `since`.
pub async fn pull(
    store: &Store,
    mut rights: Rights,
    filter: &Filter,
    since: Option<Position>,
    limit: usize,
) -> Result<Pulled, StartError> {
    let Some(since) = since else {
        let bounds = store.changes_bounds().await?;
        return Ok(Pulled {
            entries: Vec::new(),
            next: bounds.last,
            more: false,
        });
    };
    let mut read_to = since;
    let mut entries = Vec::new();
    let mut scanned = 0;
    loop {
        // Each page says whether the log still holds what follows its
        // start (the first one checks `since` itself).
        let page = store.changes_after(read_to, READ).await?;
        if !page.holds_after(read_to) {
            return Err(StartError::Gone);
        }
        let full = page.entries.len() == READ;
        scanned += page.entries.len();
        for (position, fields) in page.entries {
            read_to = position;
            let Ok(entry) = Entry::parse(position, &fields) else {
                continue;
            };
            let verdict = rights.admit(&entry);
            if verdict.sees && filter.passes(&entry) {
                entries.push(Arc::new(entry));
            }
            if verdict.gone {
                return Ok(Pulled {
                    entries,
                    next: read_to,
                    more: false,
                });
            }
            if entries.len() == limit {
                return Ok(Pulled {
                    entries,
                    next: read_to,
                    more: read_to < page.last,
                });
            }
        }
        if !full || scanned >= SCAN_MAX {
            return Ok(Pulled {
                entries,
                next: read_to,
                more: full,
            });
        }
    }
}
