//! `/users`, `/users/search`, `/users/{id}`, `/users/{id}/worktimes`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;
use taskmaster_shared::domain::{self, Email, FieldError, GroupId, Role, UserId, WorkTimes};
use taskmaster_shared::model::User;
use utoipa::ToSchema;

use crate::access::{forbidden, user_not_found, visible_user};
use crate::answers::{
    UserList, UserMessage, UserSearch, UserWorkTimes, WorkTimesUpdated, created, created_body, ok,
    ok_body,
};
use crate::auth::{Caller, Method, hash_password};
use crate::authz;
use crate::clock::now;
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, parse_json, search_query, user_id};
use crate::idempotency::{Idempotent, principal};
use crate::paging::{self, ListParams};
use crate::state::AppState;
use crate::store::{NewUser, Refusal, Source, UserChanges};

/// `POST /users`. Field names match in any case.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "full_name": "Ann Lee", "email": "ann@example.com", "password": "correct horse",
    "role": "group_admin", "group_ids": [1], "number": "E-1042", "work_times": {"Monday": 8}
}))]
pub struct CreateUser {
    #[schema(required = true, min_length = 1, max_length = 255)]
    full_name: Option<String>,
    #[schema(required = true, max_length = 254, format = Email)]
    email: Option<String>,
    /// At least `PASSWORD_MIN_LENGTH` characters (6 by default).
    #[schema(required = true, min_length = 1)]
    password: Option<String>,
    /// `user` when absent.
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    #[schema(value_type = Option<Vec<u64>>)]
    group_ids: Option<Vec<i64>>,
    #[schema(max_length = 64)]
    number: Option<String>,
    #[schema(value_type = Option<WorkTimes>)]
    work_times: Option<WorkTimesSent>,
}

/// `PUT /users/{id}`: absent or `null` fields are unchanged, and so are
/// `""` (`full_name`, `email`, `password`, `role`), as the reference's
/// clients send them; `number: ""` clears the number.
#[derive(Deserialize, ToSchema)]
pub struct UpdateUser {
    #[schema(max_length = 255)]
    full_name: Option<String>,
    #[schema(value_type = Option<String>, examples("owner", "group_admin", "user", ""))]
    role: Option<String>,
    #[schema(value_type = Option<Vec<u64>>)]
    group_ids: Option<Vec<i64>>,
    #[schema(max_length = 64)]
    number: Option<String>,
    #[schema(max_length = 254)]
    email: Option<String>,
    password: Option<String>,
    #[schema(value_type = Option<WorkTimes>)]
    work_times: Option<WorkTimesSent>,
    /// `false` deactivates the user (the owner, or a group admin for a
    /// user it manages; never one's own account), `true` reactivates it.
    active: Option<bool>,
}

/// `PUT /users/{id}/worktimes`.
#[derive(Deserialize, ToSchema)]
pub struct PutWorkTimes {
    #[schema(required = true, value_type = Option<WorkTimes>)]
    work_times: Option<WorkTimesSent>,
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
    crate::auth::password::acceptable(state.config.password_min_length, raw)
}

/// Loads a user whose profile the caller may change (404, then 403).
async fn editable_user(state: &AppState, caller: &Caller, id: &str) -> Result<User, ApiError> {
    let target = visible_user(state, caller, user_id(id)?).await?;
    if !authz::can_edit_user(caller, &target) {
        return Err(forbidden());
    }
    Ok(target)
}

/// The ids of the users the caller may list, ascending: every user for
/// the owner (read in chunks); itself and the members of the groups it
/// administers for a group admin; 403 for anyone else.
async fn listable_ids(state: &AppState, caller: &Caller) -> Result<Vec<u64>, ApiError> {
    if caller.is_owner() {
        return Ok(state.store.ids_of(Source::AllUsers).await?);
    }
    let (true, Some(me)) = (caller.is_group_admin(), caller.id) else {
        return Err(forbidden());
    };
    let mut ids = vec![me];
    for g in &caller.admin_of {
        ids.extend(
            state
                .store
                .ids_of(Source::GroupMembers(GroupId(*g)))
                .await?,
        );
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// `GET /users`: every user the caller may list, by id; or a page of them.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(&query, &state.config.lists)?;
    let ids = listable_ids(&state, &caller).await?;
    let page = paging::ids::page(ids, &params, state.config.lists.max_unpaged)?;
    let users = paging::ids::users(&state, &page.ids).await?;
    Ok(paging::ids::answer(
        &uri,
        &params,
        page.next,
        Some(page.total),
        |page| UserList {
            count: users.len(),
            users,
            page,
        },
    ))
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
    let (q, needle) = search_query(&query)?;
    let params = ListParams::from_query(&query, &state.config.lists)?;
    let desc = paging::ids::descending(&params)?;
    let mut ids = listable_ids(&state, &caller).await?;
    if desc {
        ids.reverse();
    }
    let matches = |u: &User| {
        u.full_name.to_lowercase().contains(&needle) || u.email.to_lowercase().contains(&needle)
    };
    let limits = &state.config.lists;
    // The rows are read in chunks from the cursor on, until the page is
    // full or the list ends; unpaged, every match (up to MAX_UNPAGED).
    let (limit, mut skip, after) = match &params.paging {
        None => (limits.max_unpaged, 0, None),
        Some(p) => match &p.start {
            paging::Start::After(at) => (
                p.limit,
                0,
                at.as_ref()
                    .and_then(|a| a.values.last()?.parse::<u64>().ok()),
            ),
            paging::Start::Skip(n) => (p.limit, *n, None),
        },
    };
    let from = after.map_or(0, |a| {
        ids.partition_point(|id| if desc { *id >= a } else { *id <= a })
    });
    let mut results: Vec<User> = Vec::new();
    let mut more = false;
    'chunks: for chunk in ids[from..].chunks(500) {
        for user in paging::ids::users(&state, chunk).await? {
            if !matches(&user) {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if results.len() == limit {
                more = true;
                break 'chunks;
            }
            results.push(user);
        }
    }
    if more && params.paging.is_none() {
        return Err(paging::too_large(limits.max_unpaged));
    }
    let next = more
        .then(|| {
            results
                .last()
                .map(|u| paging::params::Position::of_id(u.id))
        })
        .flatten();
    Ok(paging::ids::answer(&uri, &params, next, None, |page| {
        UserSearch {
            count: results.len(),
            query: q,
            results,
            page,
        }
    }))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !authz::can_list_users(&caller) {
        return Err(forbidden());
    }
    let body: CreateUser = parse_json(&bytes)?;
    let idem = Idempotent::of_request(
        &state,
        &headers,
        &principal(&caller),
        "POST",
        "/users",
        &bytes,
    )?;
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
    let new = NewUser {
        email: &email,
        full_name: &full_name,
        role,
        number: &number,
        password_hash: &hash,
        work_times: &work_times,
        groups: &group_ids,
        idempotency: idem.as_ref().map(|i| (i.record.clone(), i.digest.clone())),
    };
    let message = "User created successfully";
    let id = match state.store.create_user(&new, &now).await? {
        Ok(id) => id,
        Err(Refusal::AlreadyCreated(id)) => {
            let idem = idem.ok_or_else(|| ApiError::Internal("a replay without a key".into()))?;
            let user = state.store.user(UserId(id)).await?;
            let rebuilt = user.map(|user| created_body(&UserMessage { message, user }));
            return idem.replay(&state, rebuilt).await;
        }
        Err(Refusal::IdempotencyMismatch) => return Err(crate::idempotency::mismatch()),
        Err(r) => return Err(refused(Write::CreateUser, r)),
    };
    let answer = UserMessage {
        message,
        user: new.answered(id, &now),
    };
    if let Some(idem) = &idem {
        idem.remember(&state, &created_body(&answer)).await;
    }
    Ok(created(answer))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
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
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateUser>,
) -> Result<Response, ApiError> {
    let target = editable_user(&state, &caller, &id).await?;
    let conditional = crate::etag::check_if_match(&headers, &ok_body(&target))?;
    let id = UserId(target.id);
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
    let active = body.active.filter(|a| *a != target.active);
    if active.is_some() && caller.is(target.id) {
        return Err(ApiError::Forbidden(
            "You cannot deactivate or reactivate your own account".into(),
        ));
    }
    // An owner account is the way back in for every other one.
    if active == Some(false) && target.role == Role::Owner {
        return Err(ApiError::Forbidden(
            "An owner account cannot be deactivated".into(),
        ));
    }
    let hash = match pw {
        Some(pw) => Some(hash_password(pw).await?),
        None => None,
    };
    let expect_role = (!caller.is_owner()).then_some(target.role);
    let changes = UserChanges {
        expect_role,
        email: email.as_ref(),
        role: new_role,
        password_hash: hash.as_deref(),
        keep_session: match &caller.method {
            Method::Session { id: sid, .. } if caller.is(id.get()) => Some(sid.as_str()),
            _ => None,
        },
        active,
        groups: new_groups.as_deref(),
        full_name: full_name.as_deref(),
        number: number.as_deref(),
        work_times: work_times.as_ref(),
        unchanged_since: conditional.then_some(target.updated_at.as_str()),
    };
    write_user(&state, id, &changes).await?;
    let user = state.store.user(id).await?.ok_or_else(user_not_found)?;
    Ok(ok(UserMessage {
        message: "User updated successfully",
        user,
    }))
}

async fn write_user(
    state: &AppState,
    id: UserId,
    changes: &UserChanges<'_>,
) -> Result<(), ApiError> {
    state
        .store
        .update_user(id, changes, &now())
        .await?
        .map_err(|r| refused(Write::UpdateUser, r))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let target = visible_user(&state, &caller, id).await?;
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can delete users".into()));
    }
    let conditional = crate::etag::check_if_match(&headers, &ok_body(&target))?;
    let user = state
        .store
        .delete_user(
            id,
            conditional.then_some(target.updated_at.as_str()),
            &now(),
        )
        .await?
        .map_err(|r| refused(Write::DeleteUser, r))?;
    Ok(ok(UserMessage {
        message: "User deleted successfully",
        user,
    }))
}

pub async fn get_work_times(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let user = visible_user(&state, &caller, id).await?;
    Ok(ok(UserWorkTimes {
        user_id: user.id,
        work_times: user.work_times,
    }))
}

pub async fn put_work_times(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PutWorkTimes>,
) -> Result<Response, ApiError> {
    let target = editable_user(&state, &caller, &id).await?;
    let Some(sent) = body.work_times else {
        return Err(FieldError::new("work_times", "is required").into());
    };
    let work_times = work_times(sent)?;
    let changes = UserChanges {
        expect_role: (!caller.is_owner()).then_some(target.role),
        work_times: Some(&work_times),
        ..UserChanges::default()
    };
    write_user(&state, UserId(target.id), &changes).await?;
    Ok(ok(WorkTimesUpdated {
        message: "Work times updated successfully",
        work_times,
    }))
}
