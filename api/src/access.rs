//! Loading a row together with the permission check that guards it, for
//! the handlers of every route module (so that none imports another).
//!
//! Which answer is 404 and which 403 follows the README: a missing row is
//! 404 before a forbidden one is 403.

use taskmaster_shared::domain::{GroupId, UserId};
use taskmaster_shared::model::{Task, User};

use crate::auth::{Caller, Credentials, authenticate_with, resolve};
use crate::authz;
use crate::error::ApiError;
use crate::extract::{task_id, user_id};
use crate::state::AppState;
use crate::store::{GroupDetail, Source, TaskRow};

pub fn forbidden() -> ApiError {
    ApiError::Forbidden("Insufficient permissions".into())
}

pub fn user_not_found() -> ApiError {
    ApiError::NotFound("User not found".into())
}

pub fn group_not_found() -> ApiError {
    ApiError::NotFound("Group not found".into())
}

/// Loads a user the caller may see: 404 if missing, 403 if not visible.
pub async fn visible_user(state: &AppState, caller: &Caller, id: UserId) -> Result<User, ApiError> {
    let user = state.store.user(id).await?.ok_or_else(user_not_found)?;
    if !authz::can_view_user(caller, &user) {
        return Err(forbidden());
    }
    Ok(user)
}

/// Loads a group the caller may see: 404 if missing, 403 if not visible.
pub async fn visible_group(
    state: &AppState,
    caller: &Caller,
    id: GroupId,
) -> Result<GroupDetail, ApiError> {
    let detail = state
        .store
        .group_detail(id)
        .await?
        .ok_or_else(group_not_found)?;
    if !authz::can_view_group(caller, id.get()) {
        return Err(forbidden());
    }
    Ok(detail)
}

/// The group's tasks the caller may see: all for the owner and the group's
/// admin; a member's own tasks for other members.
pub async fn visible_group_tasks(
    state: &AppState,
    caller: &Caller,
    group: u64,
) -> Result<Vec<Task>, ApiError> {
    if authz::can_manage_group(caller, group) {
        return Ok(state
            .store
            .tasks(Source::GroupTasks(GroupId(group)))
            .await?);
    }
    let Some(me) = caller.id else {
        return Ok(Vec::new());
    };
    let mut tasks = state.store.tasks(Source::UserTasks(UserId(me))).await?;
    tasks.retain(|t| t.group_id == group);
    Ok(tasks)
}

pub fn task_not_found() -> ApiError {
    ApiError::NotFound("Task not found".into())
}

/// Checks that the caller may act on the tasks of user `id`. The owner and
/// the user itself need no lookup (it would cost a Redis round trip on the
/// hottest paths); a missing user then shows up as a missing task, and
/// [`not_found_for`] names it.
pub async fn may_access_user(
    state: &AppState,
    caller: &Caller,
    id: UserId,
) -> Result<(), ApiError> {
    if caller.is_owner() || caller.is(id.get()) {
        return Ok(());
    }
    visible_user(state, caller, id).await.map(|_| ())
}

/// The 404 for a task that could not be found under user `id`: "User not
/// found" when the owner named a user that does not exist.
pub async fn not_found_for(state: &AppState, caller: &Caller, id: UserId) -> ApiError {
    if caller.is_owner() && matches!(state.store.user(id).await, Ok(None)) {
        return user_not_found();
    }
    task_not_found()
}

/// Who a stored task belongs to, read without copying its text fields.
#[derive(serde::Deserialize)]
struct TaskOwnership {
    user_id: u64,
    group_id: u64,
}

/// Authenticates and loads task `tid` of user `id` (both as given in the
/// path) in one round trip, when the caller may read it: the caller and
/// the stored row. A task the caller may not read is "not found", as a
/// missing one.
pub async fn readable_task(
    state: &AppState,
    credentials: &Credentials,
    id: &str,
    tid: &str,
) -> Result<(Caller, Vec<u8>), ApiError> {
    let (id, tid) = match (user_id(id), task_id(tid)) {
        (Ok(id), Ok(tid)) => (id, tid),
        (Err(e), _) | (_, Err(e)) => {
            resolve(state, credentials).await?;
            return Err(e);
        }
    };
    let (caller, row) = authenticate_with(state, credentials, Some(id), &TaskRow(tid)).await?;
    may_access_user(state, &caller, id).await?;
    // Only the two ids that decide visibility are read from the row.
    let owner = row
        .as_deref()
        .and_then(|raw| serde_json::from_slice::<TaskOwnership>(raw).ok());
    match (owner, row) {
        (Some(o), Some(raw))
            if o.user_id == id.get() && authz::can_see(&caller, o.user_id, o.group_id) =>
        {
            Ok((caller, raw))
        }
        _ => Err(not_found_for(state, &caller, id).await),
    }
}
