//! Pages of lists ordered by id alone, whose ids come from a set (users,
//! groups, a group's members): the ids are read in chunks (`SSCAN`) and
//! sorted here (eight bytes each), and only the page's rows are read.
//! Redis is never held for long, and the whole list is never read.

use axum::http::{HeaderValue, Uri, header};
use axum::response::Response;
use serde::Serialize;
use taskmaster_shared::domain::FieldError;
use taskmaster_shared::order::SortKey;

use super::params::{ListParams, Position, Start};
use super::{TOTAL_HEADER, next_link, too_large};
use std::collections::HashMap;

use taskmaster_shared::model::{Group, User};

use crate::answers::{PageFields, ok};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Source;

/// The users of `ids`, in that order (missing ones left out), read 500 at
/// a time.
pub async fn users(state: &AppState, ids: &[u64]) -> Result<Vec<User>, ApiError> {
    let mut by_id: HashMap<u64, User> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows = state.store.users(Source::Ids(chunk)).await?;
        by_id.extend(rows.into_iter().map(|u| (u.id, u)));
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The groups of `ids`, in that order (missing ones left out), read 500 at
/// a time.
pub async fn groups(state: &AppState, ids: &[u64]) -> Result<Vec<Group>, ApiError> {
    let mut by_id: HashMap<u64, Group> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows = state.store.groups(Source::Ids(chunk)).await?;
        by_id.extend(rows.into_iter().map(|g| (g.id, g)));
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// One page of an id list.
#[derive(Debug, Default)]
pub struct IdPage {
    /// The page's ids, in the order asked for.
    pub ids: Vec<u64>,
    /// Where the next page starts; `None` on the last.
    pub next: Option<Position>,
    /// How many ids the whole list holds.
    pub total: u64,
}

/// Whether the order asked for is by id, descending (422 for another: these
/// lists are ordered by id alone).
pub fn descending(params: &ListParams) -> Result<bool, ApiError> {
    match params.sort.keys() {
        [(SortKey::Id, desc)] => Ok(*desc),
        _ => Err(FieldError::new("sort", "this list is ordered by id alone: `id` or `-id`").into()),
    }
}

/// The page of `ids` (the whole list's, ascending) that `params` asks for;
/// all of them without paging, up to `max_unpaged` (422 beyond).
pub fn page(
    mut ids: Vec<u64>,
    params: &ListParams,
    max_unpaged: usize,
) -> Result<IdPage, ApiError> {
    let desc = descending(params)?;
    let total = ids.len() as u64;
    let Some(paging) = &params.paging else {
        if ids.len() > max_unpaged {
            return Err(too_large(max_unpaged));
        }
        if desc {
            ids.reverse();
        }
        return Ok(IdPage {
            ids,
            next: None,
            total,
        });
    };
    if desc {
        ids.reverse();
    }
    let from = match &paging.start {
        Start::After(None) => 0,
        Start::After(Some(at)) => {
            let after: u64 = at.values.last().and_then(|v| v.parse().ok()).unwrap_or(0);
            ids.partition_point(|id| if desc { *id >= after } else { *id <= after })
        }
        Start::Skip(n) => usize::try_from(*n).unwrap_or(usize::MAX).min(ids.len()),
    };
    let to = from.saturating_add(paging.limit).min(ids.len());
    let next = (to < ids.len()).then(|| Position::of_id(ids[to - 1]));
    Ok(IdPage {
        ids: ids[from..to].to_vec(),
        next,
        total,
    })
}

/// The answer `data` of a page (or of the whole list without paging), with
/// `next_cursor` and `total` in it and the `Link` and `X-Total-Count`
/// headers when paged. `fields` sets them in `data`.
pub fn answer<T: Serialize>(
    uri: &Uri,
    params: &ListParams,
    next: Option<Position>,
    total: Option<u64>,
    data: impl FnOnce(PageFields) -> T,
) -> Response {
    let Some(paging) = &params.paging else {
        return ok(data(PageFields::default()));
    };
    let cursor = next.map(|at| at.cursor(&params.sort));
    let mut response = ok(data(PageFields {
        next_cursor: Some(cursor.clone()),
        total,
    }));
    let headers = response.headers_mut();
    if let Some(total) = total {
        headers.insert(TOTAL_HEADER, HeaderValue::from(total));
    }
    if let Some(cursor) = &cursor
        && let Ok(link) = HeaderValue::from_str(&next_link(uri, paging, cursor))
    {
        headers.insert(header::LINK, link);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task_filter::tests::query;
    use taskmaster_shared::config::ListLimits;

    fn params(pairs: &[(&str, &str)]) -> ListParams {
        let limits = ListLimits {
            max_page_size: 500,
            max_unpaged: 1000,
            max_tasks_per_user: 0,
            max_tasks_per_group: 0,
        };
        ListParams::from_query(&query(pairs), &limits).expect("valid")
    }

    #[test]
    fn an_id_list_pages_by_cursor_and_offset_both_ways() {
        let ids: Vec<u64> = (1..=10).map(|i| i * 3).collect();
        let first = page(ids.clone(), &params(&[("limit", "4")]), 100).expect("page");
        assert_eq!(first.ids, [3, 6, 9, 12]);
        assert_eq!(first.total, 10);
        let cursor = first.next.expect("more").cursor(&params(&[]).sort);
        let second = page(
            ids.clone(),
            &params(&[("limit", "4"), ("cursor", &cursor)]),
            100,
        )
        .expect("page");
        assert_eq!(second.ids, [15, 18, 21, 24]);
        let back = page(
            ids.clone(),
            &params(&[("page", "2"), ("per_page", "3"), ("sort", "-id")]),
            100,
        )
        .expect("page");
        assert_eq!(back.ids, [21, 18, 15]);
        let last = page(ids.clone(), &params(&[("skip", "8"), ("limit", "5")]), 100).expect("page");
        assert_eq!((last.ids, last.next), (vec![27, 30], None));
        assert!(
            page(ids.clone(), &params(&[]), 5).is_err(),
            "over MAX_UNPAGED"
        );
        assert!(page(ids, &params(&[("sort", "deadline")]), 100).is_err());
    }
}
