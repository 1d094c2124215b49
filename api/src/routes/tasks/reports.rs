//! `/tasks/search`, `/tasks/stats`, `/tasks/batch`, `/tasks/filter`: the
//! views and changes across users, each limited to what the caller may
//! see.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Query, State};
use axum::response::Response;
use taskmaster_shared::domain::{self, FieldError, GroupId, Priority, UserId};
use taskmaster_shared::model::Task;

use super::body::{Batch, ValidBatch};
use crate::access::forbidden;
use crate::answers::{BatchResult, FilterResult, Filters, TaskHit, TaskSearch, TaskStats, ok};
use crate::auth::Caller;
use crate::authz;
use crate::clock::now;
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, search_query};
use crate::report::{Totals, by_id, counts_by_name};
use crate::state::AppState;
use crate::store::{Source, TaskAction};
use crate::task_filter::TaskFilter;

/// Every task the caller may see: all for the owner; its own plus those of
/// the groups it administers for a group admin; its own for a user.
async fn visible_tasks(state: &AppState, caller: &Caller) -> Result<Vec<Task>, ApiError> {
    if caller.is_owner() {
        let ids = state.store.all_task_ids().await?;
        return Ok(state.store.tasks_chunked(&ids).await?);
    }
    let Some(me) = caller.id else {
        return Ok(Vec::new());
    };
    let mut ids: BTreeSet<u64> = state
        .store
        .ids_of(Source::UserTasks(UserId(me)))
        .await?
        .into_iter()
        .collect();
    for g in &caller.admin_of {
        ids.extend(state.store.ids_of(Source::GroupTasks(GroupId(*g))).await?);
    }
    let ids: Vec<u64> = ids.into_iter().collect();
    Ok(state.store.tasks_chunked(&ids).await?)
}

pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if !authz::can_list_users(&caller) {
        return Err(forbidden());
    }
    let (q, needle) = search_query(&query)?;
    let results: Vec<TaskHit> = visible_tasks(&state, &caller)
        .await?
        .into_iter()
        .filter(|t| {
            t.title.to_lowercase().contains(&needle)
                || t.information.to_lowercase().contains(&needle)
        })
        .map(|t| TaskHit {
            user_id: t.user_id,
            task: t,
        })
        .collect();
    Ok(ok(TaskSearch {
        count: results.len(),
        query: q,
        results,
    }))
}

pub async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let tasks = visible_tasks(&state, &caller).await?;
    let totals = Totals::of(&tasks);
    let mut by_group: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_user: BTreeMap<u64, u64> = BTreeMap::new();
    let mut by_priority: BTreeMap<String, u64> = BTreeMap::new();
    for t in &tasks {
        *by_group.entry(t.group_id.to_string()).or_default() += 1;
        *by_user.entry(t.user_id).or_default() += 1;
        *by_priority.entry(t.priority.to_string()).or_default() += 1;
    }
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
        let names: HashMap<u64, String> = state
            .store
            .users(Source::Ids(&ids))
            .await?
            .into_iter()
            .map(|u| (u.id, u.full_name))
            .collect();
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

/// The values `status=` takes on `/tasks/filter` (absent or empty: no
/// filter, as `all`). The spec states them from here.
pub const STATUS_FILTERS: [&str; 3] = ["completed", "pending", "all"];

/// `completed` → done tasks, `pending` → open ones, `all` or `""` → both.
/// Unlike the reference, which ignored an unknown value, 422 names it:
/// a typo must not silently answer every task.
fn status_filter(raw: &str) -> Result<Option<bool>, FieldError> {
    match raw {
        "" | "all" => Ok(None),
        "completed" => Ok(Some(true)),
        "pending" => Ok(Some(false)),
        other => Err(FieldError::new(
            "status",
            format!("`{other}` is not completed, pending or all"),
        )),
    }
}

pub async fn filter(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let raw = |k: &str| query.get(k).cloned().unwrap_or_default();
    let (status_raw, priority_raw, group_raw, user_raw) = (
        raw("status"),
        raw("priority"),
        raw("group_id"),
        raw("user_id"),
    );
    let status = status_filter(&status_raw)?;
    let also = TaskFilter::from_query(&query)?;
    let priority = match priority_raw.as_str() {
        "" => None,
        p => Some(
            p.parse::<i64>()
                .map_err(|_| FieldError::new("priority", "must be 1, 2 or 3"))
                .and_then(Priority::parse)?
                .get(),
        ),
    };
    let id_param = |name: &'static str, v: &str| -> Result<Option<u64>, FieldError> {
        if v.is_empty() {
            return Ok(None);
        }
        domain::parse_id(v)
            .map(Some)
            .ok_or_else(|| FieldError::new(name, "must be a positive integer"))
    };
    let group_id = id_param("group_id", &group_raw)?;
    let user_id = id_param("user_id", &user_raw)?;

    // Start from the narrowest index the caller may use.
    let mut tasks = if caller.is_owner() {
        match (group_id, user_id) {
            (Some(g), _) => state.store.tasks(Source::GroupTasks(GroupId(g))).await?,
            (None, Some(u)) => state.store.tasks(Source::UserTasks(UserId(u))).await?,
            (None, None) => visible_tasks(&state, &caller).await?,
        }
    } else {
        visible_tasks(&state, &caller).await?
    };
    tasks.retain(|t| {
        status.is_none_or(|s| t.status == s)
            && priority.is_none_or(|p| t.priority == p)
            && group_id.is_none_or(|g| t.group_id == g)
            && user_id.is_none_or(|u| t.user_id == u)
            && also.matches(t)
    });
    Ok(ok(FilterResult {
        count: tasks.len(),
        filters: Filters {
            group_id: group_raw,
            label: raw("label"),
            priority: priority_raw,
            state: raw("state"),
            status: status_raw,
            user_id: user_raw,
        },
        tasks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_filter_the_spec_offers_is_accepted_and_nothing_else() {
        for value in STATUS_FILTERS {
            assert!(status_filter(value).is_ok(), "{value}");
        }
        assert_eq!(status_filter("").ok(), Some(None));
        for value in ["true", "done", "Completed", " all"] {
            assert!(status_filter(value).is_err(), "{value}");
        }
    }
}
