//! `/tasks/search`, `/tasks/stats`, `/tasks/batch`, `/tasks/filter`: the
//! views and changes across users, each limited to what the caller may
//! see.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use taskmaster_shared::domain::{self, FieldError, GroupId, UserId};
use taskmaster_shared::model::Task;

use crate::access::forbidden;
use crate::answers::{
    BatchResult, FilterResult, Filters, PageFields, TaskHit, TaskSearch, TaskStats, ok,
};
use crate::auth::Caller;
use crate::authz;
use crate::clock::now;
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, search_query};
use crate::paging::{self, ListParams, Shape};
use crate::report::{Tally, by_id, counts_by_name};
use crate::state::AppState;
use crate::store::{OrderScope, Source, TaskAction};
use crate::task_body::{Batch, ValidBatch};
use crate::task_filter::TaskFilter;

/// Calls `each` with every task the caller may see, read in chunks (see
/// [`paging::scan`]): all for the owner; its own plus those of the groups
/// it administers for a group admin; its own for a user.
async fn each_visible(
    state: &AppState,
    caller: &Caller,
    mut each: impl FnMut(Task),
) -> Result<(), ApiError> {
    if caller.is_owner() {
        return paging::scan(&state.store, OrderScope::All, each).await;
    }
    let Some(me) = caller.id else {
        return Ok(());
    };
    paging::scan(&state.store, OrderScope::User(UserId(me)), &mut each).await?;
    for g in &caller.admin_of {
        // Its own tasks there were seen above.
        paging::scan(&state.store, OrderScope::Group(GroupId(*g)), |t| {
            if t.user_id != me {
                each(t);
            }
        })
        .await?;
    }
    Ok(())
}

/// The tasks of `scope` that `keep` keeps, by id, at most `MAX_UNPAGED`.
async fn bounded(
    state: &AppState,
    scope: OrderScope,
    keep: impl Fn(&Task) -> bool,
) -> Result<Vec<Task>, ApiError> {
    let max = state.config.lists.max_unpaged;
    let mut found = Vec::new();
    let mut over = false;
    paging::scan(&state.store, scope, |t| {
        if !over && keep(&t) {
            over = found.len() == max;
            if !over {
                found.push(t);
            }
        }
    })
    .await?;
    if over {
        return Err(FieldError::new(
            "limit",
            format!(
                "matches more than {max} tasks: ask for them in pages (`limit` and `cursor`), \
                 or narrow the filters"
            ),
        )
        .into());
    }
    Ok(found)
}

/// The tasks the caller may see that `keep` keeps, by id: at most
/// `MAX_UNPAGED` of them (422 naming `field` beyond: the answer would be
/// too large to build), however many are read to find them.
async fn matching(
    state: &AppState,
    caller: &Caller,
    field: &'static str,
    keep: impl Fn(&Task) -> bool,
) -> Result<Vec<Task>, ApiError> {
    let max = state.config.lists.max_unpaged;
    let mut found = Vec::new();
    let mut over = false;
    each_visible(state, caller, |t| {
        if !over && keep(&t) {
            if found.len() == max {
                over = true;
            } else {
                found.push(t);
            }
        }
    })
    .await?;
    if over {
        return Err(FieldError::new(
            field,
            format!(
                "matches more than {max} tasks: ask for them in pages (`limit` and `cursor`), \
                 or narrow it"
            ),
        )
        .into());
    }
    found.sort_unstable_by_key(|t| t.id);
    Ok(found)
}

pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if !authz::can_list_users(&caller) {
        return Err(forbidden());
    }
    let (q, _) = search_query(&query)?;
    // `q` and any other filter of the task lists.
    let filter = TaskFilter::from_query(&query)?;
    let params = ListParams::from_query(&query, &state.config.lists)?;
    let quoted = serde_json::to_string(&q).unwrap_or_default();
    let fields = |count: usize| {
        (
            format!(r#""count":{count},"query":{quoted}"#),
            String::new(),
        )
    };
    let shape = Shape {
        key: "results",
        fields: &fields,
        wrap: Some(hit),
    };
    if params.paging.is_none() && !params.sorted {
        let results: Vec<TaskHit> = matching(&state, &caller, "q", |t| filter.matches(t))
            .await?
            .into_iter()
            .map(|t| TaskHit {
                user_id: t.user_id,
                task: t,
            })
            .collect();
        return Ok(ok(TaskSearch {
            count: results.len(),
            query: q,
            results,
            page: PageFields::default(),
        }));
    }
    listed(&state, &caller, &uri, &params, &filter, None, &shape).await
}

/// A search hit of a stored task row: `{"task":<row>,"user_id":N}`.
fn hit(row: Vec<u8>) -> Option<Vec<u8>> {
    let user = Task::from_json(&row)?.user_id;
    let mut out = Vec::with_capacity(row.len() + 40);
    out.extend_from_slice(br#"{"task":"#);
    out.extend_from_slice(&row);
    out.extend_from_slice(format!(r#","user_id":{user}}}"#).as_bytes());
    Some(out)
}

/// A page (or, with `sort` alone, all) of the tasks the caller may see
/// that `filter` keeps, of user `user` when given. The owner's is read
/// from the narrowest order index there is; anyone else's from what it
/// may see, gathered first (at most `MAX_UNPAGED` tasks).
async fn listed(
    state: &AppState,
    caller: &Caller,
    uri: &Uri,
    params: &ListParams,
    filter: &TaskFilter,
    user: Option<u64>,
    shape: &Shape<'_>,
) -> Result<Response, ApiError> {
    let of_user = move |t: &Task| user.is_none_or(|u| t.user_id == u);
    if caller.is_owner() {
        let (scope, visible): (OrderScope, paging::Visible<'_>) = match (filter.group_id, user) {
            (Some(g), None) => (OrderScope::Group(GroupId(g)), None),
            (Some(g), Some(_)) => (OrderScope::Group(GroupId(g)), Some(&of_user)),
            (None, Some(u)) => (OrderScope::User(UserId(u)), None),
            (None, None) => (OrderScope::All, None),
        };
        return Ok(
            paging::respond(state, uri, params, filter, visible, scope, shape)
                .await?
                .into_response(),
        );
    }
    let max = state.config.lists.max_unpaged;
    let tasks = matching(state, caller, "limit", |t| of_user(t) && filter.matches(t)).await?;
    paging::finish(uri, params, max, paging::page_of(tasks, params, max), shape)
}

pub async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let mut tally = Tally::new();
    each_visible(&state, &caller, |t| tally.add(&t)).await?;
    let totals = tally.totals();
    let by_group: BTreeMap<String, u64> = by_id(&tally.by_group);
    let by_user = tally.by_user;
    let by_priority: BTreeMap<String, u64> = tally
        .by_priority
        .iter()
        .map(|(p, n)| (p.to_string(), *n))
        .collect();
    let mut stats = TaskStats {
        completed_tasks: totals.completed,
        completion_rate: totals.completion_rate,
        overdue_tasks: totals.overdue,
        pending_tasks: totals.pending,
        state_counts: totals.states,
        total_tasks: totals.total,
        ..TaskStats::default()
    };
    if caller.is_owner() || caller.is_group_admin() {
        let ids: Vec<u64> = by_user.keys().copied().collect();
        let mut names: HashMap<u64, String> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let users = state.store.users(Source::Ids(chunk)).await?;
            names.extend(users.into_iter().map(|u| (u.id, u.full_name)));
        }
        stats.user_task_counts = Some(counts_by_name(&by_user, &names));
        stats.user_task_counts_by_id = Some(by_id(&by_user));
    }
    if caller.is_owner() {
        stats.group_task_counts = by_group;
        stats.total_users = Some(state.store.user_count().await?);
    } else if caller.is_group_admin() {
        // One entry per administered group, as in the reference system.
        stats.group_task_counts = caller
            .admin_of
            .iter()
            .map(|g| {
                let key = g.to_string();
                let n = by_group.get(&key).copied().unwrap_or(0);
                (key, n)
            })
            .collect();
        stats.administered_groups = Some(caller.admin_of.clone());
    } else {
        stats.priority_counts = Some(by_priority);
        stats.group_task_counts = by_group;
        stats.user_id = caller.id;
    }
    Ok(ok(stats))
}

pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Batch>,
) -> Result<Response, ApiError> {
    let ValidBatch {
        requested,
        ids,
        action,
        changes,
    } = body.validate()?;
    let tasks = state
        .store
        .write_tasks(action, caller.actor(), None, &ids, &changes, &now())
        .await?
        .map_err(|r| {
            refused(
                Write::Batch {
                    group: changes.group,
                },
                r,
            )
        })?;
    Ok(ok(if action == TaskAction::Delete {
        BatchResult {
            deleted_count: Some(tasks.len()),
            deleted_tasks: Some(tasks),
            total_requested: requested,
            updated_count: 0,
            updated_tasks: Vec::new(),
        }
    } else {
        BatchResult {
            deleted_count: None,
            deleted_tasks: None,
            total_requested: requested,
            updated_count: tasks.len(),
            updated_tasks: tasks,
        }
    }))
}

pub async fn filter(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let raw = |k: &str| query.get(k).cloned().unwrap_or_default();
    let filter = TaskFilter::from_query(&query)?;
    let user_raw = raw("user_id");
    let user_id = if user_raw.is_empty() {
        None
    } else {
        Some(
            domain::parse_id(&user_raw)
                .ok_or_else(|| FieldError::new("user_id", "must be a positive integer"))?,
        )
    };
    let group_id = filter.group_id;

    let params = ListParams::from_query(&query, &state.config.lists)?;
    let filters = Filters {
        group_id: raw("group_id"),
        label: raw("label"),
        priority: raw("priority"),
        state: raw("state"),
        status: raw("status"),
        user_id: user_raw,
    };
    if params.paging.is_some() || params.sorted {
        let quoted = serde_json::to_string(&filters).unwrap_or_default();
        let fields = |count: usize| {
            (
                format!(r#""count":{count},"filters":{quoted}"#),
                String::new(),
            )
        };
        let shape = Shape::tasks(&fields);
        return listed(&state, &caller, &uri, &params, &filter, user_id, &shape).await;
    }
    let keep = |t: &Task| user_id.is_none_or(|u| t.user_id == u) && filter.matches(t);
    // The owner starts from the narrowest index there is.
    let tasks = match (caller.is_owner(), group_id, user_id) {
        (true, Some(g), _) => bounded(&state, OrderScope::Group(GroupId(g)), keep).await?,
        (true, None, Some(u)) => bounded(&state, OrderScope::User(UserId(u)), keep).await?,
        _ => matching(&state, &caller, "limit", keep).await?,
    };
    Ok(ok(FilterResult {
        count: tasks.len(),
        filters,
        tasks,
        page: PageFields::default(),
    }))
}
