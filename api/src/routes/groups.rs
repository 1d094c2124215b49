//! `/groups`, `/groups/{id}`, its members, tasks and stats (its labels
//! are in `labels.rs`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use taskmaster_shared::domain::{self, GroupId, UserId};
use taskmaster_shared::model::{Group, Task, User};
use utoipa::ToSchema;

use crate::access::{group_not_found, visible_group_tasks};
use crate::answers::{
    AdminSummary, GroupDeleted, GroupDetail, GroupList, GroupMessage, GroupName, GroupStats,
    GroupTasks, Member, MemberAdded, MemberList, MemberName, MemberRemoved, MemberSummary,
    PageFields, created, created_body, ok, ok_body,
};
use crate::auth::Caller;
use crate::authz;
use crate::clock::now;
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, body_id, group_id, parse_json, user_id};
use crate::idempotency::{Idempotent, principal};
use crate::paging::{self, ListParams};
use crate::report::{Tally, by_id, counts_by_name};
use crate::state::AppState;
use crate::store::{self, DeletedGroup, OrderScope, Source};
use crate::task_filter::TaskFilter;

/// `POST /groups`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "Platform", "admin_id": 3}))]
pub struct CreateGroup {
    #[schema(required = true, min_length = 1, max_length = 100)]
    name: Option<String>,
    /// A user whose role is `group_admin` or `owner`.
    #[schema(required = true, value_type = Option<u64>, minimum = 1)]
    admin_id: Option<i64>,
}

/// `PUT /groups/{id}`: absent fields, `""` and `0` are unchanged.
#[derive(Deserialize, ToSchema)]
pub struct UpdateGroup {
    #[schema(max_length = 100)]
    name: Option<String>,
    #[schema(value_type = Option<u64>)]
    admin_id: Option<i64>,
}

/// `POST /groups/{id}/users`.
#[derive(Deserialize, ToSchema)]
pub struct AddMember {
    #[schema(required = true, value_type = Option<u64>, minimum = 1)]
    user_id: Option<i64>,
}

/// [`crate::access::visible_group`] of a path id.
async fn visible_group(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<store::GroupDetail, ApiError> {
    crate::access::visible_group(state, caller, group_id(id)?).await
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(&query, &state.config.lists)?;
    let ids = if caller.is_owner() {
        state.store.ids_of(Source::AllGroups).await?
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
        ids
    };
    let page = paging::ids::page(ids, &params, state.config.lists.max_unpaged)?;
    let groups = paging::ids::groups(&state, &page.ids).await?;
    Ok(paging::ids::answer(
        &uri,
        &params,
        page.next,
        Some(page.total),
        |page| GroupList {
            count: groups.len(),
            groups,
            page,
        },
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can create groups".into()));
    }
    let body: CreateGroup = parse_json(&bytes)?;
    let idem = Idempotent::of_request(
        &state,
        &headers,
        &principal(&caller),
        "POST",
        "/groups",
        &bytes,
    )?;
    let name = match body.name.as_deref() {
        None | Some("") => return Err(ApiError::Unprocessable("Group name is required".into())),
        Some(n) => domain::group_name(n)?,
    };
    let admin_id = match body.admin_id {
        None | Some(0) => return Err(ApiError::Unprocessable("Admin ID is required".into())),
        Some(a) => body_id("admin_id", a)?,
    };
    let now = now();
    let keyed = idem.as_ref().map(|i| (i.record.clone(), i.digest.clone()));
    let message = "Group created successfully";
    let id = match state
        .store
        .create_group_keyed(&name, UserId(admin_id), &now, keyed.as_ref())
        .await?
    {
        Ok(id) => id,
        Err(store::Refusal::AlreadyCreated(id)) => {
            let idem = idem.ok_or_else(|| ApiError::Internal("a replay without a key".into()))?;
            let group = state.store.group(GroupId(id)).await?;
            let rebuilt = group.map(|group| created_body(&GroupMessage { message, group }));
            return idem.replay(&state, rebuilt).await;
        }
        Err(store::Refusal::IdempotencyMismatch) => return Err(crate::idempotency::mismatch()),
        Err(r) => return Err(refused(Write::CreateGroup, r)),
    };
    let group = Group {
        id: id.get(),
        name,
        admin_id,
        created_at: now.clone(),
        updated_at: now,
    };
    let answer = GroupMessage { message, group };
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
    let d = visible_group(&state, &caller, &id).await?;
    Ok(ok(detail(&d)))
}

/// The answer to `GET /groups/{id}` (its `ETag` is what `If-Match` on the
/// group's writes compares).
fn detail(d: &store::GroupDetail) -> GroupDetail {
    GroupDetail {
        admin: d.admin.clone().map(|(id, full_name, email)| AdminSummary {
            email,
            full_name,
            id,
        }),
        admin_id: d.group.admin_id,
        created_at: d.group.created_at.clone(),
        id: d.group.id,
        name: d.group.name.clone(),
        tasks_count: d.tasks_count,
        updated_at: d.group.updated_at.clone(),
        users_count: d.users_count,
    }
}

/// A conditional write's guard: the group's `updated_at` when `If-Match`
/// names the tag of its answer now (412 when it does not).
fn if_match(headers: &HeaderMap, d: &store::GroupDetail) -> Result<Option<String>, ApiError> {
    let conditional = crate::etag::check_if_match(headers, &ok_body(&detail(d)))?;
    Ok(conditional.then(|| d.group.updated_at.clone()))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateGroup>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can update groups".into()));
    }
    let guard = if_match(&headers, &d)?;
    let name = body
        .name
        .filter(|n| !n.is_empty())
        .map(|n| domain::group_name(&n))
        .transpose()?;
    let admin = match body.admin_id {
        None | Some(0) => None,
        Some(a) => Some(UserId(body_id("admin_id", a)?)),
    };
    let id = GroupId(d.group.id);
    state
        .store
        .update_group(id, name.as_deref(), admin, guard.as_deref(), &now())
        .await?
        .map_err(|r| refused(Write::UpdateGroup, r))?;
    let group = state.store.group(id).await?.ok_or_else(group_not_found)?;
    Ok(ok(GroupMessage {
        message: "Group updated successfully",
        group,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Only owner can delete groups".into()));
    }
    let guard = if_match(&headers, &d)?;
    let DeletedGroup {
        group,
        affected_users,
        deleted_tasks,
    } = state
        .store
        .delete_group(GroupId(d.group.id), guard.as_deref(), &now())
        .await?
        .map_err(|r| refused(Write::DeleteGroup, r))?;
    Ok(ok(GroupDeleted {
        affected_users,
        deleted_tasks,
        group,
        message: "Group deleted successfully",
    }))
}

async fn member_users(state: &AppState, group: u64) -> Result<Vec<User>, ApiError> {
    Ok(state
        .store
        .users(Source::GroupMembers(GroupId(group)))
        .await?)
}

pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(&query, &state.config.lists);
    let d = visible_group(&state, &caller, &id).await?;
    let params = params?;
    let in_full = authz::can_manage_group(&caller, d.group.id);
    let ids = state
        .store
        .ids_of(Source::GroupMembers(GroupId(d.group.id)))
        .await?;
    let page = paging::ids::page(ids, &params, state.config.lists.max_unpaged)?;
    let users: Vec<Member> = paging::ids::users(&state, &page.ids)
        .await?
        .into_iter()
        .map(|u| {
            if in_full {
                Member::Full(MemberSummary {
                    id: u.id,
                    full_name: u.full_name,
                    role: u.role.as_str(),
                    email: u.email,
                    number: u.number,
                    created_at: u.created_at,
                })
            } else {
                Member::Name(MemberName {
                    id: u.id,
                    full_name: u.full_name,
                })
            }
        })
        .collect();
    Ok(paging::ids::answer(
        &uri,
        &params,
        page.next,
        Some(page.total),
        |page| MemberList {
            count: users.len(),
            group_id: d.group.id,
            users,
            page,
        },
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
        Some(u) => body_id("user_id", u)?,
    };
    state
        .store
        .add_member(
            GroupId(d.group.id),
            UserId(user_id),
            caller.must_administer(),
            &now(),
        )
        .await?
        .map_err(|r| refused(Write::AddMember, r))?;
    Ok(ok(MemberAdded {
        group_id: d.group.id,
        message: "User added to group successfully",
        user_id,
    }))
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, uid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    let uid = user_id(&uid)?;
    if !authz::can_manage_group(&caller, d.group.id) {
        return Err(ApiError::Forbidden(
            "Insufficient permissions to remove users from this group".into(),
        ));
    }
    let affected = state
        .store
        .remove_member(GroupId(d.group.id), uid, caller.must_administer(), &now())
        .await?
        .map_err(|r| refused(Write::RemoveMember, r))?;
    Ok(ok(MemberRemoved {
        affected_tasks: affected,
        group_id: d.group.id,
        message: "User removed from group successfully",
        user_id: uid.get(),
    }))
}

pub async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = TaskFilter::from_query(&query);
    let params = ListParams::from_query(&query, &state.config.lists);
    let d = visible_group(&state, &caller, &id).await?;
    let (filter, params) = (filter?, params?);
    let group = d.group.id;
    let manages = authz::can_manage_group(&caller, group);
    // A plain member sees its own tasks in the group: read from its own
    // list, the group's kept.
    let (scope, size) = match (manages, caller.id) {
        (false, Some(me)) => (
            OrderScope::User(UserId(me)),
            state.store.task_count_of(UserId(me)).await?,
        ),
        _ => (OrderScope::Group(GroupId(group)), d.tasks_count),
    };
    let unpaged = params.paging.is_none() && !params.sorted;
    if unpaged && size > state.config.lists.max_unpaged as u64 {
        return Err(paging::too_large(state.config.lists.max_unpaged));
    }
    if !unpaged {
        let in_group = move |t: &Task| t.group_id == group;
        let visible: paging::Visible<'_> = if manages { None } else { Some(&in_group) };
        let fields = |count: usize| {
            (
                format!(r#""count":{count},"group_id":{group}"#),
                String::new(),
            )
        };
        let shape = paging::Shape::tasks(&fields);
        return Ok(
            paging::respond(&state, &uri, &params, &filter, visible, scope, &shape)
                .await?
                .into_response(),
        );
    }
    let mut tasks = visible_group_tasks(&state, &caller, d.group.id).await?;
    tasks.retain(|t| filter.matches(t));
    Ok(ok(GroupTasks {
        count: tasks.len(),
        group_id: d.group.id,
        tasks,
        page: PageFields::default(),
    }))
}

pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_group(&state, &caller, &id).await?;
    // Read in chunks, counted as they come: never held whole.
    let mut tally = Tally::new();
    paging::scan(&state.store, OrderScope::Group(GroupId(d.group.id)), |t| {
        tally.add(&t)
    })
    .await?;
    let members = member_users(&state, d.group.id).await?;
    let totals = tally.totals();
    let names: HashMap<u64, String> = members
        .iter()
        .map(|u| (u.id, u.full_name.clone()))
        .collect();
    let mut by_user = tally.by_user;
    by_user.retain(|user, _| names.contains_key(user));
    // A plain member sees the group's totals, and its own count only.
    if !authz::can_manage_group(&caller, d.group.id) {
        by_user.retain(|user, _| caller.is(*user));
    }
    Ok(ok(GroupStats {
        completed_tasks: totals.completed,
        completion_rate: totals.completion_rate,
        group: GroupName {
            id: d.group.id,
            name: d.group.name,
        },
        overdue_tasks: totals.overdue,
        pending_tasks: totals.pending,
        state_counts: totals.states,
        total_tasks: totals.total,
        user_task_counts: counts_by_name(&by_user, &names),
        user_task_counts_by_id: by_id(&by_user),
        users_count: members.len(),
    }))
}
