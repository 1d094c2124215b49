//! Reads one page of a task list from its order index.
//!
//! An order of one key (ties by id in the same direction) is the index's
//! own order: a page is one `ZRANGE … BYLEX` from the cursor's member, or,
//! for `page`/`skip`, one read by position; both O(log n + page). The
//! index of a user's or a group's list in an order is built on the first
//! read in that order (see `crate::store`'s `pages`). Filters on the
//! sorted key narrow the range read. Any other filter, and the caller's
//! visibility, are checked on the rows: the index is then read in chunks
//! until the page is full, the list ends, or the request has read its
//! budget of rows (`10 × MAX_PAGE_SIZE`) — the page may then hold fewer
//! rows than asked while `next_cursor` goes on, so no request holds Redis
//! or the api for long however selective its filter.
//!
//! Every task by id needs no index (`every`). An order of several keys,
//! or of one key but the id over every task, is sorted in the api: the
//! list is read whole (in chunks), up to `MAX_UNPAGED` rows, beyond which
//! it is 422.

use taskmaster_shared::config::ListLimits;
use taskmaster_shared::domain::FieldError;
use taskmaster_shared::model::{Task, current_task_row};
use taskmaster_shared::order::SortKey;

use super::every;
use super::params::{Paging, Position, Sort, Start, Style};
use crate::error::ApiError;
use crate::store::{OrderScope, PageRead, ReadMode, Store};
use crate::task_filter::TaskFilter;

/// Whether the caller may see a task (`None`: every task of the list).
pub type Visible<'a> = Option<&'a (dyn Fn(&Task) -> bool + Send + Sync)>;

/// Rows read per step when rows are checked against filters or scanned:
/// one step (a `ZRANGE` and an `MGET` in a script) holds Redis for about
/// a millisecond.
const CHUNK: usize = 500;

/// One page.
#[derive(Debug, Default)]
pub struct Page {
    /// The rows' JSON, in the current shape.
    pub rows: Vec<Vec<u8>>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Position>,
    /// The size of the whole list, when it was cheap to know.
    pub total: Option<u64>,
}

/// What a page is read from and how.
pub struct PageQuery<'a> {
    pub scope: OrderScope,
    pub sort: &'a Sort,
    pub paging: &'a Paging,
    pub filter: &'a TaskFilter,
    pub visible: Visible<'a>,
    pub limits: &'a ListLimits,
}

/// Reads the page `q` asks for.
pub async fn read(store: &Store, q: &PageQuery<'_>) -> Result<Page, ApiError> {
    match q.sort.index() {
        // No index orders every task: by id, it reads the ids in turn.
        Some((SortKey::Id, rev)) if matches!(q.scope, OrderScope::All) => {
            every::by_id(store, q, rev).await
        }
        Some(_) if matches!(q.scope, OrderScope::All) => sorted_here(store, q).await,
        Some((key, rev)) => from_index(store, q, key, rev).await,
        None => sorted_here(store, q).await,
    }
}

/// A row that passes the filters and the caller's visibility, in the
/// current shape.
pub(super) fn keep(q: &PageQuery<'_>, checked: bool, row: Option<Vec<u8>>) -> Option<Vec<u8>> {
    let raw = current_task_row(row?)?;
    if checked {
        let t = Task::from_json(&raw)?;
        if !q.filter.matches(&t) || !q.visible.is_none_or(|v| v(&t)) {
            return None;
        }
    }
    Some(raw)
}

/// The filters left to check on rows once `key`'s range is read: those
/// that bound `key` are the range itself.
fn residual(filter: &TaskFilter, key: SortKey) -> TaskFilter {
    let mut rest = filter.clone();
    match key {
        SortKey::Deadline => {
            rest.deadline_after = None;
            rest.deadline_before = None;
            rest.date = None;
            rest.due = None;
        }
        SortKey::Priority => rest.priority = None,
        SortKey::UpdatedAt => rest.updated_since = None,
        SortKey::Id => {}
    }
    rest
}

async fn from_index(
    store: &Store,
    q: &PageQuery<'_>,
    key: SortKey,
    rev: bool,
) -> Result<Page, ApiError> {
    let tag = char::from(key.tag());
    let (low_text, high_text) = match q.filter.index_range(key) {
        Some((low, Some(high))) => (format!("{tag}{low}"), format!("{tag}{high}")),
        Some((low, None)) => (format!("{tag}{low}"), char::from(key.tag() + 1).to_string()),
        None => (tag.to_string(), char::from(key.tag() + 1).to_string()),
    };
    // The range is [low, high).
    let (low, high) = (format!("[{low_text}"), format!("({high_text}"));
    let checked = !residual(q.filter, key).is_empty() || q.visible.is_some();
    let limit = q.paging.limit;
    let count_range = (!checked).then(|| (low.clone(), high.clone()));
    // The first bound a read starts from, after a cursor's member.
    let start_after = |member: &str| -> String {
        if rev {
            if member < high_text.as_str() {
                format!("({member}")
            } else {
                high.clone()
            }
        } else if member >= low_text.as_str() {
            format!("({member}")
        } else {
            low.clone()
        }
    };
    let (mut start, stop) = if rev {
        (high.clone(), low.clone())
    } else {
        (low.clone(), high.clone())
    };
    let mut skip = 0u64;
    match &q.paging.start {
        Start::After(Some(at)) => start = start_after(&at.member(key)),
        Start::After(None) => {}
        Start::Skip(n) => skip = *n,
    }
    if !checked {
        let read = PageRead {
            key,
            mode: if skip > 0 {
                ReadMode::Rank
            } else {
                ReadMode::Lex
            },
            a: if skip > 0 { low.clone() } else { start },
            b: if skip > 0 { high.clone() } else { stop },
            rev,
            skip,
            count: limit as u64 + 1,
            count_range,
        };
        let chunk = store.task_page(q.scope, &read).await?;
        let more = chunk.items.len() > limit;
        let mut rows = Vec::with_capacity(limit.min(chunk.items.len()));
        let mut last = None;
        for (member, row) in chunk.items.into_iter().take(limit) {
            last = Some(member);
            rows.extend(keep(q, false, row));
        }
        return Ok(Page {
            rows,
            next: more
                .then(|| last.and_then(|m| Position::of_member(key, &m)))
                .flatten(),
            total: chunk.total,
        });
    }
    // Rows are checked: read chunk by chunk, within a budget.
    let budget = match q.paging.start {
        Start::Skip(_) => q.limits.max_unpaged,
        Start::After(_) => q.limits.max_page_size * 10,
    };
    let mut rows = Vec::new();
    let mut scanned = 0usize;
    let mut last: Option<Vec<u8>> = None;
    loop {
        let read = PageRead {
            key,
            mode: ReadMode::Lex,
            a: start.clone(),
            b: stop.clone(),
            rev,
            skip: 0,
            count: CHUNK as u64,
            count_range: None,
        };
        let chunk = store.task_page(q.scope, &read).await?;
        let ended = chunk.items.len() < CHUNK;
        for (member, row) in chunk.items {
            scanned += 1;
            let kept = keep(q, true, row);
            let member_text = String::from_utf8_lossy(&member).into_owned();
            last = Some(member);
            let Some(raw) = kept else { continue };
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if rows.len() == limit {
                // One more row exists: the page ends at the one before.
                let at = rows_last_member(&mut rows);
                return Ok(Page {
                    rows: rows.into_iter().map(|(_, r)| r).collect(),
                    next: Position::of_member(key, at.as_bytes()),
                    total: None,
                });
            }
            rows.push((member_text, raw));
        }
        if ended {
            return Ok(Page {
                rows: rows.into_iter().map(|(_, r)| r).collect(),
                next: None,
                total: None,
            });
        }
        if scanned >= budget {
            if let Style::Page { .. } | Style::Skip { .. } = q.paging.style {
                return Err(too_deep(q));
            }
            // A short page; the next one goes on from the last row read.
            return Ok(Page {
                rows: rows.into_iter().map(|(_, r)| r).collect(),
                next: last.and_then(|m| Position::of_member(key, &m)),
                total: None,
            });
        }
        let Some(m) = &last else { break };
        start = format!("({}", String::from_utf8_lossy(m));
    }
    Ok(Page::default())
}

/// A `page` or `skip` beyond the rows a request may walk past.
pub(super) fn too_deep(q: &PageQuery<'_>) -> ApiError {
    let field = if matches!(q.paging.style, Style::Page { .. }) {
        "page"
    } else {
        "skip"
    };
    FieldError::new(
        field,
        format!(
            "reaches past the first {} rows of a filtered or owner-wide list: page through it with `cursor`",
            q.limits.max_unpaged
        ),
    )
    .into()
}

/// The member of the page's last row.
fn rows_last_member(rows: &mut [(String, Vec<u8>)]) -> String {
    rows.last().map(|(m, _)| m.clone()).unwrap_or_default()
}

/// An order of several keys: the list read whole, sorted here.
async fn sorted_here(store: &Store, q: &PageQuery<'_>) -> Result<Page, ApiError> {
    let too_many = || -> ApiError {
        FieldError::new(
            "sort",
            format!(
                "`{}` orders lists of at most {} tasks: sort a user's or a group's tasks by \
                 one key (ties go by id in its direction), any list by id, or narrow the list",
                q.sort.canonical(),
                q.limits.max_unpaged
            ),
        )
        .into()
    };
    // The list's size first: one that is too large is never read.
    let total = store.list_size(q.scope).await?;
    if total.is_some_and(|n| n > q.limits.max_unpaged as u64) {
        return Err(too_many());
    }
    let mut all: Vec<(Position, Vec<u8>)> = Vec::new();
    // Rows added since the count (or every task, not counted) still count
    // against the bound: reading stops past it.
    let mut read_rows = 0usize;
    every::each_row(store, q.scope, |row| {
        read_rows += 1;
        if let Some(raw) = keep(q, true, row)
            && let Some(t) = Task::from_json(&raw)
        {
            all.push((q.sort.position(&t), raw));
        }
        read_rows <= q.limits.max_unpaged
    })
    .await?;
    if read_rows > q.limits.max_unpaged {
        return Err(too_many());
    }
    Ok(in_memory(all, q.sort, q.paging))
}

/// A page of rows held in memory, with their places in `sort`: sorted,
/// then cut at the cursor or offset. Its total is exact.
pub fn in_memory(mut all: Vec<(Position, Vec<u8>)>, sort: &Sort, paging: &Paging) -> Page {
    all.sort_by(|a, b| sort.compare(&a.0, &b.0));
    let total = all.len() as u64;
    let from = match &paging.start {
        Start::After(None) => 0,
        Start::After(Some(at)) => all.partition_point(|(p, _)| sort.compare(p, at).is_le()),
        Start::Skip(n) => usize::try_from(*n).unwrap_or(usize::MAX).min(all.len()),
    };
    let to = from.saturating_add(paging.limit).min(all.len());
    let more = to < all.len();
    let next = more.then(|| all[to - 1].0.clone());
    Page {
        rows: all.drain(from..to).map(|(_, raw)| raw).collect(),
        next,
        total: Some(total),
    }
}

/// Calls `each` with every task of `scope`, read in chunks of `SCAN_CHUNK` (200): no
/// step holds Redis for more than about a millisecond, and the api holds
/// one chunk at a time (the owner's statistics over every task).
pub async fn scan(
    store: &Store,
    scope: OrderScope,
    mut each: impl FnMut(Task),
) -> Result<(), ApiError> {
    every::each_row(store, scope, |row| {
        if let Some(t) = row.as_deref().and_then(Task::from_json) {
            each(t);
        }
        true
    })
    .await
}
