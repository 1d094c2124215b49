//! Loading a row together with the permission check that guards it, for
//! the handlers of every route module (so that none imports another).
//!
//! Which answer is 404 and which 403 follows the README: a missing row is
//! 404 before a forbidden one is 403.

use taskmaster_shared::domain::{GroupId, UserId};
use taskmaster_shared::model::{Task, User};

use crate::auth::Caller;
use crate::authz;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{GroupDetail, Source};

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
