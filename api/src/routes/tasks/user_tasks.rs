//! `/users/{id}/tasks…`: one user's tasks, the busiest paths of the api.
//!
//! Reads pass the stored task JSON through as it is (a task is stored as
//! its answer, see `shared/src/keys/mod.rs`), and the caller's own requests
//! authenticate in the same Redis round trip as their data.

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use taskmaster_shared::domain::{TaskId, UserId};
use taskmaster_shared::model::{Task, current_task_row};

use crate::access::{
    forbidden, may_access_user, not_found_for, readable_task, task_not_found, user_not_found,
};
use crate::answers::{PageFields, TaskMessage, UserTasks, ok};
use crate::auth::{Caller, Credentials, authenticate_with, remembered, resolve};
use crate::authz;
use crate::clock::{self, now};
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, parse_json, task_id, user_id};
use crate::idempotency::Idempotent;
use crate::lists::ListVersion;
use crate::paging::{self, ListParams, Start};
use crate::state::AppState;
use crate::store::{
    ListHead, NewCreate, NewTaskRow, OrderScope, Principal, Refusal, TaskAction, TaskChangeSet,
    TaskRefusal, sorted_tasks,
};
use crate::task_body::{CreateTask, NewTask, TaskChanges};
use crate::task_filter::TaskFilter;

/// The same answer as [`UserTasks`], spliced from stored task JSON
/// (`tests/it/answers.rs` holds the two to the same bytes).
fn raw_task_list(user_id: u64, rows: &[Vec<u8>]) -> Bytes {
    let size: usize = rows.iter().map(|r| r.len() + 1).sum::<usize>() + 96;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(
        format!(r#"{{"success":true,"data":{{"user_id":{user_id},"tasks":["#).as_bytes(),
    );
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(row);
    }
    body.extend_from_slice(format!(r#"],"count":{}}}}}"#, rows.len()).as_bytes());
    Bytes::from(body)
}

/// 200 with a JSON body already encoded.
fn json_response(body: Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The id a stored task row starts with (`{"id":123,…`).
fn row_id(raw: &[u8]) -> Option<u64> {
    let digits = raw.strip_prefix(br#"{"id":"#)?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Stored task rows in the current shape, sorted by id (damaged ones
/// skipped), from the set order [`crate::store::Store::user_task_rows`]
/// reads them in.
fn rows_by_id(rows: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut rows: Vec<(u64, Vec<u8>)> = rows
        .into_iter()
        .filter_map(|raw| Some((row_id(&raw)?, current_task_row(raw)?)))
        .collect();
    rows.sort_unstable_by_key(|(id, _)| *id);
    rows.into_iter().map(|(_, raw)| raw).collect()
}

pub async fn list_for_user(
    State(state): State<AppState>,
    credentials: Credentials,
    Path(id): Path<String>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    // Judged after the caller is known: a stranger learns nothing.
    let filter = TaskFilter::from_query(&query);
    let params = ListParams::from_query(&query, &state.config.lists);
    let id = match user_id(&id) {
        Ok(id) => id,
        Err(e) => {
            resolve(&state, &credentials).await?;
            return Err(e);
        }
    };
    // The caller, and whether the user exists with which task-list version
    // (see crate::lists) and how many tasks, in one round trip.
    // Kept answers are matched only to a version read within one dial of
    // the shard's pool (crate::lists: a restarted Redis server may hand a
    // lost version out again).
    let dials = state.store.dials();
    let (caller, head) = authenticate_with(&state, &credentials, Some(id), &ListHead(id)).await?;
    let Some(head) = head else {
        return Err(user_not_found());
    };
    let version = ListVersion::read(head.version, dials, state.store.dials());
    let raw = id.get();
    let sees_all = caller.is_owner() || caller.is(raw);
    let unpaged = params
        .as_ref()
        .is_ok_and(|p| p.paging.is_none() && !p.sorted);
    if unpaged && head.tasks > state.config.lists.max_unpaged as u64 {
        if !sees_all {
            check_viewer(&state, &caller, id).await?;
        }
        return Err(paging::too_large(state.config.lists.max_unpaged));
    }
    if !unpaged {
        if !sees_all {
            check_viewer(&state, &caller, id).await?;
        }
        let (filter, params) = (filter?, params?);
        let visible = |t: &Task| authz::can_see_task(&caller, t);
        let visible: paging::Visible<'_> = if sees_all { None } else { Some(&visible) };
        let fields = |count: usize| (format!(r#""user_id":{raw}"#), format!(r#""count":{count}"#));
        let shape = paging::Shape::tasks(&fields);
        let scope = OrderScope::User(id);
        // A first page everything of which the caller sees is kept under
        // the task-list version, as the whole list is (crate::lists).
        let kept = match version {
            Some(v)
                if sees_all
                    && params
                        .paging
                        .as_ref()
                        .is_some_and(|p| p.start == Start::After(None)) =>
            {
                let query = format!("{}\n{}", uri.query().unwrap_or_default(), clock::today());
                Some(((raw, query), v))
            }
            _ => None,
        };
        if let Some((key, v)) = &kept
            && let Some(answer) = state.pages.get(key, *v)
        {
            return Ok(answer.into_response());
        }
        let answer =
            paging::respond(&state, &uri, &params, &filter, visible, scope, &shape).await?;
        if let Some((key, v)) = kept {
            state.pages.put(key, v, answer.clone());
        }
        return Ok(answer.into_response());
    }
    if sees_all && filter.as_ref().is_ok_and(TaskFilter::is_empty) {
        // Everything is visible: the stored JSON goes out as it is.
        if let Some(body) = version.and_then(|v| state.lists.get(&raw, v)) {
            return Ok(json_response(body));
        }
        // Read after the version: the answer is at least that new.
        let rows = state.store.user_task_rows(id).await?;
        let body = raw_task_list(raw, &rows_by_id(rows));
        if let Some(v) = version {
            state.lists.put(raw, v, body.clone());
        }
        return Ok(json_response(body));
    }
    let (user, rows) = state.store.user_with_task_rows(id).await?;
    let user = user.ok_or_else(user_not_found)?;
    if !authz::can_view_user(&caller, &user) {
        return Err(forbidden());
    }
    let filter = filter?;
    let mut tasks = sorted_tasks(rows);
    tasks.retain(|t| authz::can_see_task(&caller, t) && filter.matches(t));
    Ok(ok(UserTasks {
        user_id: raw,
        count: tasks.len(),
        tasks: &tasks,
        page: PageFields::default(),
    }))
}

/// 403 unless the caller may view user `id` (404 when it is gone).
async fn check_viewer(state: &AppState, caller: &Caller, id: UserId) -> Result<(), ApiError> {
    let user = state.store.user(id).await?.ok_or_else(user_not_found)?;
    if authz::can_view_user(caller, &user) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// `POST /users/{id}/tasks`.
///
/// A user creating a task for themselves with a password verified moments
/// ago takes one Redis round trip: the script checks that the user's
/// credential version is still the one verified (a changed password or
/// role, or a deleted user, fails the check) and the request then takes
/// the ordinary path, which reads the user's record first.
pub async fn create(
    State(state): State<AppState>,
    credentials: Credentials,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The digest of a retry's request (see crate::idempotency).
    let keyed = |principal: &str, id: UserId| {
        let path = format!("/users/{}/tasks", id.get());
        Idempotent::of_request(&state, &headers, principal, "POST", &path, &body)
    };
    if let Credentials::Basic {
        id: Some(login),
        password,
        ..
    } = &credentials
        && let Ok(id) = user_id(&id)
        && *login == id
        && let Some((version, _)) = remembered(&state, id, password)
        && let Ok(new) = parse_json::<CreateTask>(&body).and_then(CreateTask::validate)
        && let Ok(idem) = keyed(&id.get().to_string(), id)
        && let Some(response) =
            insert_task(&state, id, None, Some(version), id, new, idem.as_ref()).await?
    {
        return Ok(response);
    }
    let caller = resolve(&state, &credentials).await?;
    let parsed = parse_json::<CreateTask>(&body)?;
    let id = user_id(&id)?;
    let principal = caller
        .id
        .map_or_else(|| "owner".to_owned(), |u| u.to_string());
    let idem = keyed(&principal, id)?;
    let body = parsed;
    may_access_user(&state, &caller, id).await?;
    let new = body.validate()?;
    // Creating for someone else as a group admin: only in groups it administers.
    let admin_check = if caller.is(id.get()) {
        None
    } else {
        caller.must_administer()
    };
    // The owner header has no account of its own: the owner account
    // stands for it.
    let creator = match caller.id {
        Some(me) => Some(UserId(me)),
        None => state.store.owner_account().await?,
    };
    insert_task(&state, id, admin_check, None, creator, new, idem.as_ref())
        .await?
        .ok_or_else(|| ApiError::Internal("unguarded create was stale".into()))
}

/// Creates the task through the shard's batcher ([`crate::creates`]).
/// `guard` is the credential version user `id` must still have; `None`
/// back means it no longer does (the credential changed since it was
/// verified). `creator` is recorded as its `created_by`. The row's JSON
/// is built here once: the script stores it and the answer carries it.
async fn insert_task(
    state: &AppState,
    id: UserId,
    admin_check: Option<UserId>,
    guard: Option<u64>,
    creator: impl Into<Option<UserId>>,
    new: NewTask,
    idem: Option<&Idempotent>,
) -> Result<Option<Response>, ApiError> {
    if guard.is_some() {
        // A guarded create is the user's own Basic request, before
        // anything recorded its caller.
        crate::acting::record_basic(id.get());
    }
    let now = now();
    let deadline = new.deadline.as_wire();
    let row = NewTaskRow {
        title: &new.title,
        priority: new.priority.get(),
        deadline: &deadline,
        information: &new.information,
        user_id: id.get(),
        group_id: new.group_id.get(),
        now: &now,
        state: new.state,
        created_by: creator.into().map(UserId::get),
        labels: &new.labels,
    };
    let tail = row.tail();
    // A guarded create is the request's first round trip: it counts the
    // request in its script. An unguarded one was counted when its caller
    // was resolved.
    let meter = guard.and_then(|_| crate::ratelimit::meter(state, Principal::User(id)));
    let (created, metered) = state
        .creates
        .create(NewCreate {
            user: id,
            group: new.group_id,
            admin_check,
            guard,
            tail: tail.clone(),
            labels: new.labels.joined(),
            order: row.order_heads(),
            idempotency: idem.map(|i| (i.record.clone(), i.digest.clone())),
            meter,
            context: crate::acting::context().to_string(),
        })
        .await?;
    crate::ratelimit::admit(metered)?;
    match created {
        Ok(task_id) => {
            let mut body = String::with_capacity(96 + tail.len());
            body.push_str(
                r#"{"success":true,"data":{"message":"Task created successfully","task":{"id":"#,
            );
            body.push_str(itoa::Buffer::new().format(task_id));
            body.push_str(&tail);
            body.push_str("}}");
            if let Some(idem) = idem {
                idem.remember(state, body.as_bytes()).await;
            }
            Ok(Some(
                (axum::http::StatusCode::CREATED, json_response(body.into())).into_response(),
            ))
        }
        Err(Refusal::AlreadyCreated(tid)) => {
            let idem = idem.ok_or_else(|| ApiError::Internal("a replay without a key".into()))?;
            let row = state.store.task_row(TaskId(tid)).await?;
            let rebuilt = row.and_then(current_task_row).map(|row| {
                let mut body =
                    br#"{"success":true,"data":{"message":"Task created successfully","task":"#
                        .to_vec();
                body.extend_from_slice(&row);
                body.extend_from_slice(b"}}");
                body
            });
            idem.replay(state, rebuilt).await.map(Some)
        }
        Err(Refusal::IdempotencyMismatch) => Err(crate::idempotency::mismatch()),
        Err(Refusal::StaleCredentials) => Ok(None),
        Err(refusal) => Err(refused(Write::CreateTask, refusal)),
    }
}

pub async fn get_one(
    State(state): State<AppState>,
    credentials: Credentials,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (_, raw) = readable_task(&state, &credentials, &id, &tid).await?;
    match current_task_row(raw) {
        Some(raw) => Ok(raw_ok(&raw)),
        None => Err(task_not_found()),
    }
}

/// 200 `{"success":true,"data":<raw>}` for a JSON value already encoded.
fn raw_ok(raw: &[u8]) -> Response {
    json_response(task_answer(raw).into())
}

/// `{"success":true,"data":<raw>}`: the answer to `GET` of a task whose
/// row is `raw` (its `ETag` is this body's).
fn task_answer(raw: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"success":true,"data":"#;
    let mut body = Vec::with_capacity(HEAD.len() + raw.len() + 1);
    body.extend_from_slice(HEAD);
    body.extend_from_slice(raw);
    body.push(b'}');
    body
}

/// One task through its user's path: update, mark_done or delete. With
/// `If-Match`, only while the task is still the one whose answer had that
/// tag: compared here, then held in the write's own step (412 otherwise).
async fn write_one(
    state: &AppState,
    caller: &Caller,
    action: TaskAction,
    (id, tid): (String, String),
    mut changes: TaskChangeSet,
    if_match: Option<&HeaderValue>,
) -> Result<Task, ApiError> {
    let id = user_id(&id)?;
    let tid = task_id(&tid)?;
    may_access_user(state, caller, id).await?;
    if let Some(wanted) = if_match {
        // A task the caller may not see is left to the write, which
        // answers it as not found.
        let stored = state.store.task_row(tid).await?.filter(|raw| {
            Task::from_json(raw).is_some_and(|t| {
                t.user_id == id.get() && authz::can_see(caller, t.user_id, t.group_id)
            })
        });
        let Some(stored) = stored else {
            return Err(not_found_for(state, caller, id).await);
        };
        let answer = current_task_row(stored.clone()).map(|row| task_answer(&row));
        if !answer.is_some_and(|body| crate::etag::listed(wanted, &crate::etag::of(&body))) {
            return Err(ApiError::PreconditionFailed(
                "The task changed since the tag `If-Match` names: read it again".into(),
            ));
        }
        changes.unchanged_from = Some(stored);
    }
    let written = state
        .store
        .write_tasks(
            action,
            caller.actor(),
            Some(id),
            &[tid.get()],
            &changes,
            &now(),
        )
        .await?;
    match written {
        Ok(mut tasks) => tasks.pop().ok_or_else(task_not_found),
        Err(Refusal::Tasks(refused_tasks))
            if refused_tasks
                .first()
                .is_none_or(|(why, _)| *why == TaskRefusal::NotFound) =>
        {
            Err(not_found_for(state, caller, id).await)
        }
        Err(refusal) => Err(refused(Write::WriteTask, refusal)),
    }
}

/// [`write_one`], answered with `message` and the task.
async fn answer_one(
    state: &AppState,
    caller: &Caller,
    (action, message): (TaskAction, &'static str),
    ids: (String, String),
    changes: TaskChangeSet,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let if_match = headers.get(header::IF_MATCH);
    let task = write_one(state, caller, action, ids, changes, if_match).await?;
    Ok(ok(TaskMessage { message, task }))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TaskChanges>,
) -> Result<Response, ApiError> {
    let changes = body.validate()?;
    let what = (TaskAction::Update, "Task updated successfully");
    answer_one(&state, &caller, what, ids, changes, &headers).await
}

pub async fn mark_done(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let what = (TaskAction::MarkDone, "Task marked as done");
    answer_one(
        &state,
        &caller,
        what,
        ids,
        TaskChangeSet::default(),
        &headers,
    )
    .await
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let what = (TaskAction::Delete, "Task deleted successfully");
    answer_one(
        &state,
        &caller,
        what,
        ids,
        TaskChangeSet::default(),
        &headers,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::model::is_current_task_row;

    /// A stored row of the shape before states (id, status).
    fn old_row(id: u64, done: bool) -> Vec<u8> {
        format!(
            r#"{{"id":{id},"title":"t{id}","status":{done},"priority":2,"deadline":"","information":"","user_id":1,"group_id":1,"created_at":"c","updated_at":"u"}}"#
        )
        .into_bytes()
    }

    fn current(raw: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&Task::from_json(raw).expect("a task")).expect("serialised")
    }

    #[test]
    fn stored_rows_are_put_in_id_order_upgraded_and_damaged_ones_left_out() {
        let now_100 = current(&old_row(100, false));
        let rows = vec![
            now_100.clone(),
            old_row(9, true),
            br#"{"id":"x","title":"damaged"}"#.to_vec(),
            br#"{"id":7,"title":"no other field"}"#.to_vec(),
            old_row(10, false),
        ];
        let sorted: Vec<Task> = rows_by_id(rows)
            .iter()
            .map(|r| {
                assert!(is_current_task_row(r), "{}", String::from_utf8_lossy(r));
                Task::from_json(r).expect("a task")
            })
            .collect();
        let ids: Vec<u64> = sorted.iter().map(|t| t.id).collect();
        assert_eq!(ids, [9, 10, 100]);
        assert_eq!(sorted[0].state, taskmaster_shared::domain::TaskState::Done);
        assert_eq!(sorted[1].state, taskmaster_shared::domain::TaskState::Todo);
        // A row of the current shape goes out byte for byte.
        assert_eq!(current_task_row(now_100.clone()), Some(now_100));
    }
}
