//! `/users`, `/users/search`, `/users/{id}`, `/users/{id}/worktimes`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use taskmaster_shared::domain::{self, Email, FieldError, Role, WorkTimes};
use taskmaster_shared::keys::RowType;
use taskmaster_shared::model::User;

use super::{created, new_id, now, ok};
use crate::auth::{Caller, hash_password};
use crate::authz;
use crate::error::ApiError;
use crate::extract::{JsonBody, path_id, search_query};
use crate::state::AppState;
use crate::store::{Outcome, SCRIPTS, Source, user_from};

#[derive(Deserialize)]
pub struct CreateUser {
    full_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    role: Option<String>,
    group_ids: Option<Vec<i64>>,
    number: Option<String>,
    work_times: Option<WorkTimesSent>,
}

#[derive(Deserialize)]
pub struct UpdateUser {
    full_name: Option<String>,
    role: Option<String>,
    group_ids: Option<Vec<i64>>,
    number: Option<String>,
    email: Option<String>,
    password: Option<String>,
    work_times: Option<WorkTimesSent>,
}

#[derive(Deserialize)]
pub struct PutWorkTimes {
    work_times: Option<WorkTimesSent>,
}

#[derive(Serialize)]
struct UserMessage<'a> {
    message: &'a str,
    user: User,
}

fn forbidden() -> ApiError {
    ApiError::Forbidden("Insufficient permissions".into())
}

/// Positive, distinct group ids, sorted.
pub fn parse_group_ids(raw: &[i64]) -> Result<Vec<u64>, FieldError> {
    let mut ids = Vec::with_capacity(raw.len());
    for &g in raw {
        let id = u64::try_from(g)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| FieldError::new("group_ids", format!("{g} is not a valid group id")))?;
        if ids.contains(&id) {
            return Err(FieldError::new(
                "group_ids",
                format!("group {id} is listed more than once"),
            ));
        }
        ids.push(id);
    }
    ids.sort_unstable();
    Ok(ids)
}

fn password(state: &AppState, raw: &str) -> Result<String, FieldError> {
    let min = state.config.password_min_length;
    let n = raw.chars().count();
    if n < min {
        return Err(FieldError::new(
            "password",
            format!("must be at least {min} characters"),
        ));
    }
    if raw.len() > 1024 {
        return Err(FieldError::new("password", "must be at most 1024 bytes"));
    }
    Ok(raw.to_owned())
}

/// Loads a user the caller may see: 404 if missing, 403 if not visible.
pub async fn visible_user(state: &AppState, caller: &Caller, id: u64) -> Result<User, ApiError> {
    let user = state
        .store
        .user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    if !authz::can_view_user(caller, &user) {
        return Err(forbidden());
    }
    Ok(user)
}

/// Loads a user whose profile the caller may change (404, then 403).
async fn editable_user(state: &AppState, caller: &Caller, id: &str) -> Result<User, ApiError> {
    let target = visible_user(state, caller, path_id(id, "user")?).await?;
    if !authz::can_edit_user(caller, &target) {
        return Err(forbidden());
    }
    Ok(target)
}

/// The users the caller may list: all for the owner; a group admin itself
/// and the members of the groups it administers.
async fn listable_users(state: &AppState, caller: &Caller) -> Result<Vec<User>, ApiError> {
    if caller.is_owner() {
        Ok(state
            .store
            .users(Source::Set(state.keys.all(RowType::User)))
            .await?)
    } else if let (true, Some(id)) = (caller.is_group_admin(), caller.id) {
        Ok(state.store.users(Source::VisibleUsers(id)).await?)
    } else {
        Err(forbidden())
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let users = listable_users(&state, &caller).await?;
    Ok(ok(json!({"count": users.len(), "users": users})))
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
    let results: Vec<User> = listable_users(&state, &caller)
        .await?
        .into_iter()
        .filter(|u| {
            u.full_name.to_lowercase().contains(&needle) || u.email.to_lowercase().contains(&needle)
        })
        .collect();
    Ok(ok(
        json!({"query": q, "count": results.len(), "results": results}),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<Response, ApiError> {
    if !authz::can_list_users(&caller) {
        return Err(forbidden());
    }
    let (Some(full_name), Some(email), Some(pw)) = (
        body.full_name.filter(|s| !s.is_empty()),
        body.email.filter(|s| !s.is_empty()),
        body.password.filter(|s| !s.is_empty()),
    ) else {
        return Err(ApiError::Unprocessable(
            "Full name, email and password are required".into(),
        ));
    };
    let full_name = domain::full_name(&full_name)?;
    let email = Email::parse(&email)?;
    let pw = password(&state, &pw)?;
    let role = match body.role.as_deref() {
        None | Some("") => Role::User,
        Some(r) => Role::parse(r)?,
    };
    let group_ids = parse_group_ids(body.group_ids.as_deref().unwrap_or(&[]))?;
    let number = domain::number(body.number.as_deref().unwrap_or(""))?;
    let work_times = body
        .work_times
        .map(work_times)
        .transpose()?
        .unwrap_or_default();
    if !caller.is_owner()
        && (role != Role::User
            || group_ids.is_empty()
            || !group_ids.iter().all(|g| caller.administers(*g)))
    {
        // A group admin creates plain users inside its own groups only.
        return Err(ApiError::Forbidden(
            "Insufficient permissions to create user with specified role/groups".into(),
        ));
    }
    let hash = hash_password(pw).await?;
    let now = now();
    let mut inv = state.store.invocation(&SCRIPTS.create_user, Some(&now));
    inv.arg(&email.key)
        .arg(&full_name)
        .arg(&email.value)
        .arg(role.as_str())
        .arg(&number)
        .arg(&hash)
        .arg(work_times.to_stored())
        .arg(&group_ids);
    match state.store.write(&inv).await? {
        Outcome::Ok(items) => {
            let id = new_id(&items, "create_user")?;
            let user = User {
                id,
                full_name,
                role,
                group_ids,
                number,
                email: email.value,
                work_times,
                created_at: now.clone(),
                updated_at: now,
                password_hash: String::new(),
            };
            Ok(created(UserMessage {
                message: "User created successfully",
                user,
            }))
        }
        Outcome::Refused { code, details } => Err(refusal(&code, &details)),
    }
}

/// Maps the user scripts' refusals.
fn refusal(code: &str, details: &[String]) -> ApiError {
    let detail = details.first().map(String::as_str).unwrap_or("");
    match code {
        "EMAIL_TAKEN" => ApiError::Conflict("User with this email already exists".into()),
        "GROUP_NOT_FOUND" => ApiError::Unprocessable(format!("Group {detail} not found")),
        "NOT_FOUND" => ApiError::NotFound("User not found".into()),
        "CONFLICT" => ApiError::Conflict("The user was changed by another request; retry".into()),
        "ADMINISTERS" => ApiError::Conflict(format!(
            "The user administers groups {detail}; give those groups another admin first"
        )),
        other => ApiError::Internal(format!("unexpected refusal {other}").into()),
    }
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "user")?;
    Ok(ok(visible_user(&state, &caller, id).await?))
}

/// `work_times` as sent: an object of numbers, so that a wrong JSON type
/// inside is a 400 while the body is read, like any field's. The weekdays
/// (in any case) and the hours are judged by [`WorkTimes::from_entries`]
/// (422).
type WorkTimesSent = std::collections::BTreeMap<String, serde_json::Number>;

fn work_times(sent: WorkTimesSent) -> Result<WorkTimes, FieldError> {
    WorkTimes::from_entries(
        sent.iter()
            .map(|(day, hours)| (day.as_str(), hours.as_f64())),
    )
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateUser>,
) -> Result<Response, ApiError> {
    let target = editable_user(&state, &caller, &id).await?;
    let id = target.id;
    // Empty strings leave name, email, password and role unchanged (as in
    // the reference system, whose clients send them); `number` and
    // `work_times` are set when present, so they can be cleared.
    let full_name = body
        .full_name
        .filter(|s| !s.is_empty())
        .map(|s| domain::full_name(&s))
        .transpose()?;
    let number = body.number.map(|s| domain::number(&s)).transpose()?;
    let work_times = body.work_times.map(work_times).transpose()?;
    let new_role = match body.role.as_deref() {
        None | Some("") => None,
        Some(r) => Some(Role::parse(r)?).filter(|r| *r != target.role),
    };
    if new_role.is_some() && !caller.is_owner() {
        return Err(ApiError::Forbidden(
            "Only owner can change user roles".into(),
        ));
    }
    let new_groups = body
        .group_ids
        .as_deref()
        .map(parse_group_ids)
        .transpose()?
        .filter(|g| *g != target.group_ids);
    if new_groups.is_some() && !caller.is_owner() {
        return Err(ApiError::Forbidden(
            "Only owner can change group membership here; group admins use /groups/{id}/users"
                .into(),
        ));
    }
    // A client that sends back the user it read (a group admin editing the
    // name) sends the email unchanged: that is no change of email, and it
    // is not judged again (restored data may hold an address today's
    // rules would refuse).
    let email = body
        .email
        .filter(|s| !s.is_empty() && *s != target.email)
        .map(|s| Email::parse(&s))
        .transpose()?;
    let pw = body
        .password
        .filter(|s| !s.is_empty())
        .map(|s| password(&state, &s))
        .transpose()?;
    if (email.is_some() || pw.is_some()) && !authz::can_change_credentials(&caller, &target) {
        return Err(ApiError::Forbidden(
            "Only the user or the owner can change email or password".into(),
        ));
    }
    let hash = match pw {
        Some(pw) => Some(hash_password(pw).await?),
        None => None,
    };
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(n) = full_name {
        pairs.push(("full_name", n));
    }
    if let Some(n) = number {
        pairs.push(("number", n));
    }
    if let Some(w) = work_times {
        pairs.push(("work_times", w.to_stored()));
    }
    let expect_role = if caller.is_owner() {
        ""
    } else {
        target.role.as_str()
    };
    write_user(
        &state,
        id,
        expect_role,
        email.as_ref(),
        new_role,
        hash.as_deref(),
        new_groups.as_deref(),
        &pairs,
    )
    .await?;
    let user = state
        .store
        .user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    Ok(ok(UserMessage {
        message: "User updated successfully",
        user,
    }))
}

#[allow(clippy::too_many_arguments)]
async fn write_user(
    state: &AppState,
    id: u64,
    expect_role: &str,
    email: Option<&Email>,
    role: Option<Role>,
    hash: Option<&str>,
    groups: Option<&[u64]>,
    pairs: &[(&str, String)],
) -> Result<(), ApiError> {
    let now = now();
    let mut inv = state.store.invocation(&SCRIPTS.update_user, Some(&now));
    inv.arg(id)
        .arg(expect_role)
        .arg(email.map(|e| e.value.as_str()).unwrap_or(""))
        .arg(email.map(|e| e.key.as_str()).unwrap_or(""))
        .arg(role.map(Role::as_str).unwrap_or(""))
        .arg(hash.unwrap_or(""))
        .arg(if groups.is_some() { "1" } else { "" })
        .arg(groups.map_or(0, <[u64]>::len))
        .arg(groups.unwrap_or(&[]));
    for (k, v) in pairs {
        inv.arg(*k).arg(v);
    }
    match state.store.write(&inv).await? {
        Outcome::Ok(_) => Ok(()),
        Outcome::Refused { code, details } => Err(refusal(&code, &details)),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "user")?;
    visible_user(&state, &caller, id).await?;
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can delete users".into()));
    }
    let mut inv = state.store.invocation(&SCRIPTS.delete_user, Some(&now()));
    inv.arg(id);
    match state.store.write(&inv).await? {
        Outcome::Ok(items) => {
            let mut it = items.into_iter();
            let user = match (it.next(), it.next()) {
                (Some(row), Some(groups)) => user_from(row, groups),
                _ => None,
            }
            .ok_or(ApiError::Internal("delete_user reply".into()))?;
            Ok(ok(UserMessage {
                message: "User deleted successfully",
                user,
            }))
        }
        Outcome::Refused { code, details } => Err(refusal(&code, &details)),
    }
}

pub async fn get_work_times(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "user")?;
    let user = visible_user(&state, &caller, id).await?;
    Ok(ok(
        json!({"user_id": user.id, "work_times": user.work_times}),
    ))
}

pub async fn put_work_times(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PutWorkTimes>,
) -> Result<Response, ApiError> {
    let target = editable_user(&state, &caller, &id).await?;
    let id = target.id;
    let Some(sent) = body.work_times else {
        return Err(FieldError::new("work_times", "is required").into());
    };
    let work_times = work_times(sent)?;
    let expect_role = if caller.is_owner() {
        ""
    } else {
        target.role.as_str()
    };
    write_user(
        &state,
        id,
        expect_role,
        None,
        None,
        None,
        None,
        &[("work_times", work_times.to_stored())],
    )
    .await?;
    Ok(ok(
        json!({"message": "Work times updated successfully", "work_times": work_times}),
    ))
}
