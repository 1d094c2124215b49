//! The reads that need no order index: every task by id (the owner's
//! views), straight from the id counter, and the scans of a whole list
//! that statistics and the in-memory sorts read (see
//! `crate::store::task_scan`).
//!
//! Every task by id needs no index because ids are handed out in order
//! and never reused: a page reads the rows of the next ids, a deleted
//! task is a gap. The total is not known without counting, so these
//! pages carry none; `page`/`skip` walk the rows before the page within
//! `MAX_UNPAGED` of them, as a filtered list does.

use std::collections::HashSet;

use super::engine::{Page, PageQuery, keep, too_deep};
use super::params::{Position, Start, Style};
use crate::error::ApiError;
use crate::store::{OrderScope, SCAN_CHUNK, Store};

/// A page of every task by id (descending when `rev`).
pub(super) async fn by_id(store: &Store, q: &PageQuery<'_>, rev: bool) -> Result<Page, ApiError> {
    let known = store.task_ids().await?;
    let top = known.top;
    let mut skip = 0u64;
    let after = |id: u64| if rev { id.saturating_sub(1) } else { id + 1 };
    let mut next = match &q.paging.start {
        Start::After(Some(at)) => {
            let id = at.values.last().and_then(|v| v.parse().ok()).unwrap_or(0);
            after(id)
        }
        Start::After(None) => {
            if rev {
                top
            } else {
                1
            }
        }
        Start::Skip(n) => {
            skip = *n;
            if rev { top } else { 1 }
        }
    };
    let budget = match q.paging.start {
        Start::Skip(_) => q.limits.max_unpaged,
        Start::After(_) => q.limits.max_page_size * 10,
    };
    let checked = !q.filter.is_empty() || q.visible.is_some();
    let chunk = SCAN_CHUNK as u64;
    let mut rows: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut probed = 0usize;
    let done = |rows: Vec<(u64, Vec<u8>)>, next: Option<Position>| Page {
        rows: rows.into_iter().map(|(_, r)| r).collect(),
        next,
        total: None,
    };
    loop {
        // Ids a counter skipped after a Redis restart were never a task's:
        // a million of them would be thousands of empty reads.
        next = known.step_over(next, !rev);
        let ids: Vec<u64> = if rev {
            (next.saturating_sub(chunk - 1).max(1)..=next.min(top))
                .rev()
                .collect()
        } else {
            (next..=top.min(next.saturating_add(chunk - 1))).collect()
        };
        if ids.is_empty() || next == 0 {
            return Ok(done(rows, None));
        }
        let found = store.rows_by_id(&ids).await?;
        for (id, row) in ids.iter().zip(found) {
            probed += 1;
            let Some(raw) = keep(q, checked, row) else {
                continue;
            };
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if rows.len() == q.paging.limit {
                // One more row exists: the page ends at the one before.
                let last = rows.last().map(|(id, _)| *id).unwrap_or_default();
                return Ok(done(rows, Some(Position::of_id(last))));
            }
            rows.push((*id, raw));
        }
        let last = ids.last().copied().unwrap_or_default();
        next = after(last);
        let ended = if rev { next == 0 } else { next > top };
        if probed >= budget && !ended {
            if let Style::Page { .. } | Style::Skip { .. } = q.paging.style {
                return Err(too_deep(q));
            }
            // A short page; the next one goes on from the last id read.
            return Ok(done(rows, Some(Position::of_id(last))));
        }
    }
}

/// Calls `each` with every stored row of `scope` (`None` for an id of a
/// user's or group's set whose row is missing), `SCAN_CHUNK` per step, until it
/// answers false. Every task comes by id; a user's or a group's in the
/// order of its set, each once.
pub(super) async fn each_row(
    store: &Store,
    scope: OrderScope,
    mut each: impl FnMut(Option<Vec<u8>>) -> bool,
) -> Result<(), ApiError> {
    if let OrderScope::All = scope {
        let known = store.task_ids().await?;
        let top = known.top;
        let mut from = 1u64;
        loop {
            from = known.step_over(from, true);
            if from > top {
                break;
            }
            let ids: Vec<u64> = (from..=top.min(from + SCAN_CHUNK as u64 - 1)).collect();
            for row in store.rows_by_id(&ids).await? {
                if row.is_some() && !each(row) {
                    return Ok(());
                }
            }
            from += SCAN_CHUNK as u64;
        }
        return Ok(());
    }
    // `SSCAN` may give an id twice (while the set is resized).
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let (items, next) = store.scope_rows(scope, cursor).await?;
        for (id, row) in items {
            if seen.insert(id) && !each(row) {
                return Ok(());
            }
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use crate::store::TaskIds;

    #[test]
    fn reads_step_over_skipped_ids_both_ways() {
        let known = TaskIds {
            top: 3_000_010,
            gaps: vec![(11, 1_000_010), (1_000_021, 2_000_020)],
        };
        assert_eq!(known.step_over(5, true), 5);
        assert_eq!(known.step_over(11, true), 1_000_011);
        assert_eq!(known.step_over(500, true), 1_000_011);
        assert_eq!(known.step_over(1_000_021, false), 1_000_020);
        assert_eq!(known.step_over(2_000_020, false), 1_000_020);
        assert_eq!(known.step_over(2_000_021, false), 2_000_021);
        let none = TaskIds {
            top: 0,
            gaps: vec![(1, 10)],
        };
        assert_eq!(none.step_over(1, false), 0);
    }
}
