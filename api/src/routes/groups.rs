//! `/groups`, `/groups/{id}`, its members, tasks and stats.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use taskmaster_shared::domain::{self, Email, FieldError};
use taskmaster_shared::keys::RowType;
use taskmaster_shared::model::{Group, Task, User};

use super::tasks::counts_by_name;
use super::{completion_rate, created, new_id, now, ok};
use crate::auth::Caller;
use crate::authz;
use crate::error::ApiError;
use crate::extract::{JsonBody, path_id};
use crate::state::AppState;
use crate::store::{GroupDetail, Outcome, SCRIPTS, Source, fields, u64_of};

#[derive(Deserialize)]
pub struct CreateGroup {
    name: Option<String>,
    admin_id: Option<i64>,
}

#[derive(Deserialize)]
pub struct UpdateGroup {
    name: Option<String>,
    admin_id: Option<i64>,
}

#[derive(Deserialize)]
pub struct AddMember {
    user_id: Option<i64>,
}

#[derive(Serialize)]
struct GroupMessage<'a> {
    message: &'a str,
    group: Group,
}

/// A member as listed by `/groups/{id}/users` (no credentials).
#[derive(Serialize)]
struct MemberSummary {
    id: u64,
    full_name: String,
    role: &'static str,
    email: String,
    number: String,
    created_at: String,
}

fn group_not_found() -> ApiError {
    ApiError::NotFound("Group not found".into())
}

fn positive(field: &'static str, v: i64) -> Result<u64, FieldError> {
    u64::try_from(v)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| FieldError::new(field, format!("{v} is not a valid id")))
}

/// Loads a group the caller may see: 404 if missing, 403 if not visible.
async fn visible_group(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<GroupDetail, ApiError> {
    let id = path_id(id, "group")?;
    let detail = state
        .store
        .group_detail(id)
        .await?
        .ok_or_else(group_not_found)?;
    if !authz::can_view_group(caller, id) {
        return Err(ApiError::Forbidden("Insufficient permissions".into()));
    }
    Ok(detail)
}

fn refusal(code: &str) -> ApiError {
    match code {
        "NOT_FOUND" | "GROUP_NOT_FOUND" => group_not_found(),
        "NAME_TAKEN" => ApiError::Conflict("Group with this name already exists".into()),
        "ADMIN_NOT_FOUND" => ApiError::Unprocessable("Admin user not found".into()),
        "ADMIN_ROLE" => {
            ApiError::Unprocessable("Selected user must have 'group_admin' or 'owner' role".into())
        }
        "USER_NOT_FOUND" => ApiError::NotFound("User not found".into()),
        "ROLE_FORBIDDEN" => {
            ApiError::Forbidden("Group admins can only add users whose role is 'user'".into())
        }
        "ROLE_FORBIDDEN_REMOVE" => {
            ApiError::Forbidden("Group admins can only remove users whose role is 'user'".into())
        }
        "ALREADY_MEMBER" => ApiError::Conflict("User is already a member of this group".into()),
        "NOT_MEMBER" => ApiError::NotFound("User is not a member of this group".into()),
        "FORBIDDEN" => ApiError::Forbidden("Insufficient permissions for this group".into()),
        other => ApiError::Internal(format!("unexpected refusal {other}").into()),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let groups = if caller.is_owner() {
        state
            .store
            .groups(Source::Set(state.keys.all(RowType::Group)))
            .await?
    } else {
        // The groups one belongs to or administers (the reference refused
        // regular users although its README promised this list).
        let mut ids: Vec<u64> = caller
            .groups
            .iter()
            .chain(&caller.admin_of)
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        state.store.groups(Source::Ids(&ids)).await?
    };
    Ok(ok(json!({"count": groups.len(), "groups": groups})))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateGroup>,
) -> Result<Response, ApiError> {
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can create groups".into()));
    }
    let name = match body.name.as_deref() {
        None | Some("") => return Err(ApiError::Unprocessable("Group name is required".into())),
        Some(n) => domain::group_name(n)?,
    };
    let admin_id = match body.admin_id {
        None | Some(0) => return Err(ApiError::Unprocessable("Admin ID is required".into())),
        Some(a) => positive("admin_id", a)?,
    };
    let now = now();
    let mut inv = state.store.invocation(&SCRIPTS.create_group, Some(&now));
    inv.arg(Email::key_of(&name)).arg(&name).arg(admin_id);
    match state.store.write(&inv).await? {
        Outcome::Ok(items) => {
            let id = new_id(&items, "create_group")?;
            let group = Group {
                id,
                name,
                admin_id,
                created_at: now.clone(),
                updated_at: now,
            };
            Ok(created(GroupMessage {
                message: "Group created successfully",
                group,
            }))
        }
        Outcome::Refused { code, .. } => Err(refusal(&code)),
    }
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    let mut data = json!({
        "id": d.group.id,
        "name": d.group.name,
        "admin_id": d.group.admin_id,
        "created_at": d.group.created_at,
        "updated_at": d.group.updated_at,
        "users_count": d.users_count,
        "tasks_count": d.tasks_count,
    });
    if let Some((id, full_name, email)) = d.admin {
        data["admin"] = json!({"id": id, "full_name": full_name, "email": email});
    }
    Ok(ok(data))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateGroup>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can update groups".into()));
    }
    let name = body
        .name
        .filter(|n| !n.is_empty())
        .map(|n| domain::group_name(&n))
        .transpose()?;
    let admin = match body.admin_id {
        None | Some(0) => None,
        Some(a) => Some(positive("admin_id", a)?),
    };
    let mut inv = state.store.invocation(&SCRIPTS.update_group, Some(&now()));
    inv.arg(d.group.id)
        .arg(name.as_deref().unwrap_or(""))
        .arg(name.as_deref().map(Email::key_of).unwrap_or_default())
        .arg(admin.map(|a| a.to_string()).unwrap_or_default());
    match state.store.write(&inv).await? {
        Outcome::Ok(_) => {
            let group = state
                .store
                .groups(Source::Ids(&[d.group.id]))
                .await?
                .pop()
                .ok_or_else(group_not_found)?;
            Ok(ok(GroupMessage {
                message: "Group updated successfully",
                group,
            }))
        }
        Outcome::Refused { code, .. } => Err(match code.as_str() {
            "ADMIN_NOT_FOUND" => ApiError::Unprocessable("New admin user not found".into()),
            "ADMIN_ROLE" => {
                ApiError::Unprocessable("New admin must have 'group_admin' or 'owner' role".into())
            }
            other => refusal(other),
        }),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can delete groups".into()));
    }
    let mut inv = state.store.invocation(&SCRIPTS.delete_group, Some(&now()));
    inv.arg(d.group.id);
    match state.store.write(&inv).await? {
        Outcome::Ok(items) => {
            let mut it = items.into_iter();
            let group = it
                .next()
                .and_then(|row| Group::from_fields(&fields(row)))
                .ok_or(ApiError::Internal("delete_group reply".into()))?;
            let affected_users = it.next().as_ref().and_then(u64_of).unwrap_or(0);
            let deleted_tasks = it.next().as_ref().and_then(u64_of).unwrap_or(0);
            Ok(ok(json!({
                "message": "Group deleted successfully",
                "group": group,
                "affected_users": affected_users,
                "deleted_tasks": deleted_tasks,
            })))
        }
        Outcome::Refused { code, .. } => Err(refusal(&code)),
    }
}

async fn member_users(state: &AppState, group: u64) -> Result<Vec<User>, ApiError> {
    Ok(state
        .store
        .users(Source::Set(state.keys.group_members(group)))
        .await?)
}

pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    let users: Vec<MemberSummary> = member_users(&state, d.group.id)
        .await?
        .into_iter()
        .map(|u| MemberSummary {
            id: u.id,
            full_name: u.full_name,
            role: u.role.as_str(),
            email: u.email,
            number: u.number,
            created_at: u.created_at,
        })
        .collect();
    Ok(ok(
        json!({"group_id": d.group.id, "count": users.len(), "users": users}),
    ))
}

pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AddMember>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    if !authz::can_manage_group(&caller, d.group.id) {
        return Err(ApiError::Forbidden(
            "Insufficient permissions to add users to this group".into(),
        ));
    }
    let user_id = match body.user_id {
        None | Some(0) => return Err(ApiError::Unprocessable("User ID is required".into())),
        Some(u) => positive("user_id", u)?,
    };
    let admin_check = if caller.is_owner() {
        String::new()
    } else {
        caller.script_name()
    };
    let mut inv = state.store.invocation(&SCRIPTS.add_member, Some(&now()));
    inv.arg(d.group.id)
        .arg(user_id)
        .arg(if caller.is_owner() { "" } else { "1" })
        .arg(&admin_check);
    match state.store.write(&inv).await? {
        Outcome::Ok(_) => Ok(ok(json!({
            "message": "User added to group successfully",
            "group_id": d.group.id,
            "user_id": user_id,
        }))),
        Outcome::Refused { code, .. } if code == "USER_NOT_FOUND" => {
            Err(ApiError::Unprocessable("User not found".into()))
        }
        Outcome::Refused { code, .. } => Err(refusal(&code)),
    }
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, uid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    let uid = path_id(&uid, "user")?;
    if !authz::can_manage_group(&caller, d.group.id) {
        return Err(ApiError::Forbidden(
            "Insufficient permissions to remove users from this group".into(),
        ));
    }
    let admin_check = if caller.is_owner() {
        String::new()
    } else {
        caller.script_name()
    };
    let mut inv = state.store.invocation(&SCRIPTS.remove_member, Some(&now()));
    inv.arg(d.group.id).arg(uid).arg(&admin_check);
    match state.store.write(&inv).await? {
        Outcome::Ok(items) => Ok(ok(json!({
            "message": "User removed from group successfully",
            "group_id": d.group.id,
            "user_id": uid,
            "affected_tasks": items.first().and_then(u64_of).unwrap_or(0),
        }))),
        Outcome::Refused { code, .. } => Err(refusal(&code)),
    }
}

/// The group's tasks the caller may see: all for the owner and the group's
/// admin; a member's own tasks for other members.
async fn group_tasks(state: &AppState, caller: &Caller, group: u64) -> Result<Vec<Task>, ApiError> {
    if authz::can_manage_group(caller, group) {
        return Ok(state
            .store
            .tasks(Source::Set(state.keys.group_tasks(group)))
            .await?);
    }
    let Some(me) = caller.id else {
        return Ok(Vec::new());
    };
    let mut tasks = state
        .store
        .tasks(Source::Set(state.keys.user_tasks(me)))
        .await?;
    tasks.retain(|t| t.group_id == group);
    Ok(tasks)
}

pub async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    let tasks = group_tasks(&state, &caller, d.group.id).await?;
    Ok(ok(
        json!({"group_id": d.group.id, "count": tasks.len(), "tasks": tasks}),
    ))
}

pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    let tasks = state
        .store
        .tasks(Source::Set(state.keys.group_tasks(d.group.id)))
        .await?;
    let members = member_users(&state, d.group.id).await?;
    let total = tasks.len() as u64;
    let completed = tasks.iter().filter(|t| t.status).count() as u64;
    let names: HashMap<u64, String> = members
        .iter()
        .map(|u| (u.id, u.full_name.clone()))
        .collect();
    let mut by_user: BTreeMap<u64, u64> = BTreeMap::new();
    for t in tasks.iter().filter(|t| names.contains_key(&t.user_id)) {
        *by_user.entry(t.user_id).or_default() += 1;
    }
    Ok(ok(json!({
        "group": {"id": d.group.id, "name": d.group.name},
        "users_count": members.len(),
        "total_tasks": total,
        "completed_tasks": completed,
        "pending_tasks": total - completed,
        "completion_rate": completion_rate(completed, total),
        "user_task_counts": counts_by_name(&by_user, &names),
        "user_task_counts_by_id": by_user.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
    })))
}
