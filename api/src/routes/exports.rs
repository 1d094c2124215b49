//! `GET /users/{id}/tasks/export` and `GET /groups/{id}/tasks/export`:
//! every task of the list the caller may see, as CSV (the default) or
//! JSON, streamed (see `crate::export`). Who sees what is the list's rule:
//! the owner and the user itself every task of a user, a group admin
//! those in its groups; the owner and the group's admin every task of a
//! group, another member its own there.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use taskmaster_shared::domain::{FieldError, GroupId, UserId};
use taskmaster_shared::model::Task;

use crate::access::{visible_group, visible_user};
use crate::auth::Caller;
use crate::authz;
use crate::error::ApiError;
use crate::export::{self, Export, Format, List, Visibility};
use crate::extract::{group_id, user_id};
use crate::state::AppState;
use crate::store::OrderScope;
use crate::task_filter::TaskFilter;

/// The export's format and the list's filters; paging and `sort` are
/// refused (an export answers every task, by id).
fn params(query: &HashMap<String, String>) -> Result<(Format, TaskFilter), ApiError> {
    if let Some(name) = export::REFUSED.iter().find(|n| query.contains_key(**n)) {
        return Err(FieldError::new(
            name,
            "an export answers every task, by id: it takes no paging and no sort",
        )
        .into());
    }
    let format = Format::parse(query.get("format").map(String::as_str))?;
    Ok((format, TaskFilter::from_query(query)?))
}

pub async fn user_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id: UserId = user_id(&id)?;
    visible_user(&state, &caller, id).await?;
    let (format, filter) = params(&query)?;
    let raw = id.get();
    let visible: Visibility = if caller.is_owner() || caller.is(raw) {
        None
    } else {
        let caller = caller.clone();
        Some(Box::new(move |t: &Task| authz::can_see_task(&caller, t)))
    };
    let export = Export {
        list: List::User(raw),
        scope: OrderScope::User(id),
        filter,
        visible,
        format,
    };
    export::respond(&state, export).await
}

pub async fn group_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let group: GroupId = group_id(&id)?;
    visible_group(&state, &caller, group).await?;
    let (format, filter) = params(&query)?;
    let raw = group.get();
    // A plain member's own tasks in the group, read from its own list.
    let (scope, visible): (OrderScope, Visibility) =
        match (authz::can_manage_group(&caller, raw), caller.id) {
            (false, Some(me)) => (
                OrderScope::User(UserId(me)),
                Some(Box::new(move |t: &Task| t.group_id == raw)),
            ),
            _ => (OrderScope::Group(group), None),
        };
    let export = Export {
        list: List::Group(raw),
        scope,
        filter,
        visible,
        format,
    };
    export::respond(&state, export).await
}
