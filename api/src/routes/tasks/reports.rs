//! `/tasks/search`, `/tasks/stats`, `/tasks/batch`, `/tasks/filter`: the
//! views and changes across users, each limited to what the caller may
//! see.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{Value, json};
use taskmaster_shared::domain::{self, FieldError, GroupId, Priority, UserId};
use taskmaster_shared::model::Task;

use super::body::{Batch, ValidBatch};
use crate::access::forbidden;
use crate::answers::ok;
use crate::auth::Caller;
use crate::authz;
use crate::clock::now;
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, search_query};
use crate::report::{by_id, completion_rate, counts_by_name};
use crate::state::AppState;
use crate::store::{Source, TaskAction};

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
    let results: Vec<Value> = visible_tasks(&state, &caller)
        .await?
        .into_iter()
        .filter(|t| {
            t.title.to_lowercase().contains(&needle)
                || t.information.to_lowercase().contains(&needle)
        })
        .map(|t| json!({"user_id": t.user_id, "task": t}))
        .collect();
    Ok(ok(
        json!({"query": q, "count": results.len(), "results": results}),
    ))
}

pub async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let tasks = visible_tasks(&state, &caller).await?;
    let total = tasks.len() as u64;
    let completed = tasks.iter().filter(|t| t.status).count() as u64;
    let mut by_group: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_user: BTreeMap<u64, u64> = BTreeMap::new();
    let mut by_priority: BTreeMap<String, u64> = BTreeMap::new();
    for t in &tasks {
        *by_group.entry(t.group_id.to_string()).or_default() += 1;
        *by_user.entry(t.user_id).or_default() += 1;
        *by_priority.entry(t.priority.to_string()).or_default() += 1;
    }
    let mut data = json!({
        "total_tasks": total,
        "completed_tasks": completed,
        "pending_tasks": total - completed,
        "completion_rate": completion_rate(completed, total),
    });
    if caller.is_owner() || caller.is_group_admin() {
        let ids: Vec<u64> = by_user.keys().copied().collect();
        let names: HashMap<u64, String> = state
            .store
            .users(Source::Ids(&ids))
            .await?
            .into_iter()
            .map(|u| (u.id, u.full_name))
            .collect();
        data["user_task_counts"] = json!(counts_by_name(&by_user, &names));
        data["user_task_counts_by_id"] = json!(by_id(&by_user));
    }
    if caller.is_owner() {
        data["group_task_counts"] = json!(by_group);
        data["total_users"] = json!(state.store.user_count().await?);
    } else if caller.is_group_admin() {
        // One entry per administered group, as in the reference system.
        let mut per_group: BTreeMap<String, u64> = BTreeMap::new();
        for g in &caller.admin_of {
            per_group.insert(
                g.to_string(),
                by_group.get(&g.to_string()).copied().unwrap_or(0),
            );
        }
        data["group_task_counts"] = json!(per_group);
        data["administered_groups"] = json!(caller.admin_of);
    } else {
        data["priority_counts"] = json!(by_priority);
        data["group_task_counts"] = json!(by_group);
        data["user_id"] = json!(caller.id);
    }
    Ok(ok(data))
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
    let mut data = json!({"total_requested": requested});
    if action == TaskAction::Delete {
        data["updated_count"] = json!(0);
        data["updated_tasks"] = json!([]);
        data["deleted_count"] = json!(tasks.len());
        data["deleted_tasks"] = json!(tasks);
    } else {
        data["updated_count"] = json!(tasks.len());
        data["updated_tasks"] = json!(tasks);
    }
    Ok(ok(data))
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
    let status = match status_raw.as_str() {
        "" | "all" => None,
        "completed" => Some(true),
        "pending" => Some(false),
        other => {
            return Err(FieldError::new(
                "status",
                format!("`{other}` is not completed, pending or all"),
            )
            .into());
        }
    };
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
    });
    Ok(ok(json!({
        "count": tasks.len(),
        "tasks": tasks,
        "filters": {"status": status_raw, "priority": priority_raw, "group_id": group_raw, "user_id": user_raw},
    })))
}
