//! Tasks: `/users/{id}/tasks…` and the global `/tasks/{search,stats,batch,filter}`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use taskmaster_shared::domain::{self, Deadline, FieldError, Priority};
use taskmaster_shared::keys::RowType;
use taskmaster_shared::model::Task;

use super::users::visible_user;
use super::{completion_rate, now, ok};
use crate::auth::{Caller, Credentials, authenticate_and_get, authenticate_with, resolve};
use crate::authz;
use crate::creates::{Created, NewCreate};
use crate::error::ApiError;
use crate::extract::{JsonBody, parse_json, path_id, search_query};
use crate::state::AppState;
use crate::store::{NewTaskRow, Outcome, SCRIPTS, Source, sorted_tasks, task_from, user_from};

/// Most tasks one batch may name.
pub const BATCH_MAX: usize = 1000;

#[derive(Deserialize)]
pub struct CreateTask {
    title: Option<String>,
    group_id: Option<i64>,
    priority: Option<i64>,
    deadline: Option<String>,
    information: Option<String>,
}

/// The changeable fields of a task (update and batch `updates`).
#[derive(Deserialize, Default)]
pub struct TaskChanges {
    title: Option<String>,
    priority: Option<i64>,
    deadline: Option<String>,
    information: Option<String>,
    status: Option<bool>,
    group_id: Option<i64>,
}

/// Validated changes: field/value pairs to store, and a new group.
struct Changes {
    pairs: Vec<(&'static str, String)>,
    group: Option<u64>,
}

impl Changes {
    /// No field changes (mark_done and delete).
    fn none() -> Self {
        Changes {
            pairs: Vec::new(),
            group: None,
        }
    }
}

impl TaskChanges {
    /// An empty `title`, a `priority` of 0 and a `group_id` of 0 mean
    /// "unchanged" (what the reference system's clients send for a field
    /// they did not set); `deadline: ""` clears the deadline and
    /// `information: ""` clears the notes.
    fn validate(self) -> Result<Changes, FieldError> {
        let mut pairs = Vec::new();
        if let Some(t) = self.title.filter(|t| !t.is_empty()) {
            pairs.push(("title", domain::title(&t)?));
        }
        if let Some(p) = self.priority.filter(|p| *p != 0) {
            pairs.push(("priority", Priority::parse(p)?.get().to_string()));
        }
        if let Some(d) = self.deadline {
            pairs.push(("deadline", Deadline::parse(&d)?.as_wire()));
        }
        if let Some(i) = self.information {
            pairs.push(("information", domain::information(&i)?));
        }
        if let Some(s) = self.status {
            pairs.push(("status", if s { "1" } else { "0" }.to_owned()));
        }
        let group = match self.group_id {
            None | Some(0) => None,
            Some(g) => Some(u64::try_from(g).map_err(|_| {
                FieldError::new("group_id", format!("{g} is not a valid group id"))
            })?),
        };
        Ok(Changes { pairs, group })
    }
}

/// `GET /users/{id}/tasks` (typed, not `json!`: no intermediate tree on
/// the most listed path).
#[derive(Serialize)]
struct UserTasks<'a> {
    user_id: u64,
    tasks: &'a [Task],
    count: usize,
}

/// The same answer as [`UserTasks`], spliced from stored task JSON.
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

/// Stored task rows sorted by id (missing and damaged ones skipped), from
/// [`crate::store::Store::user_task_rows_command`]'s set order.
fn rows_by_id(rows: Vec<redis::Value>) -> Vec<Vec<u8>> {
    let mut rows: Vec<(u64, Vec<u8>)> = crate::store::task_json(rows)
        .into_iter()
        .filter_map(|raw| Some((row_id(&raw)?, raw)))
        .collect();
    rows.sort_unstable_by_key(|(id, _)| *id);
    rows.into_iter().map(|(_, raw)| raw).collect()
}

#[derive(Serialize)]
struct TaskMessage<'a> {
    message: &'a str,
    task: Task,
}

fn task_not_found() -> ApiError {
    ApiError::NotFound("Task not found".into())
}

/// Checks that the caller may act on the tasks of user `id`. The owner and
/// the user itself need no lookup (it would cost a Redis round trip on the
/// hottest paths); a missing user then shows up as a missing task, and
/// [`not_found_for`] names it.
async fn may_access_user(state: &AppState, caller: &Caller, id: u64) -> Result<(), ApiError> {
    if caller.is_owner() || caller.is(id) {
        return Ok(());
    }
    visible_user(state, caller, id).await.map(|_| ())
}

/// The 404 for a task that could not be found under user `id`: "User not
/// found" when the owner named a user that does not exist.
async fn not_found_for(state: &AppState, caller: &Caller, id: u64) -> ApiError {
    if caller.is_owner() && matches!(state.store.user(id).await, Ok(None)) {
        return ApiError::NotFound("User not found".into());
    }
    task_not_found()
}

pub async fn list_for_user(
    State(state): State<AppState>,
    credentials: Credentials,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = match path_id(&id, "user") {
        Ok(id) => id,
        Err(e) => {
            resolve(&state, &credentials, None).await?;
            return Err(e);
        }
    };
    // The caller, and whether the user exists with which task-list version
    // (see crate::lists), in one round trip.
    let (caller, replies) = authenticate_with(&state, &credentials, Some(id), |pipe| {
        pipe.cmd("HMGET")
            .arg(state.keys.row(RowType::User, id))
            .arg(&["id", "tv"]);
    })
    .await?;
    let head = replies
        .into_iter()
        .next()
        .and_then(crate::store::array)
        .ok_or_else(|| ApiError::Internal("list replies".into()))?;
    let mut head = head.into_iter();
    if matches!(head.next(), None | Some(redis::Value::Nil)) {
        return Err(ApiError::NotFound("User not found".into()));
    }
    // No `tv` yet: no write has touched the user's tasks since it was made.
    let version = match head.next() {
        None | Some(redis::Value::Nil) => Some(0),
        Some(v) => crate::store::u64_of(&v),
    };
    if caller.is_owner() || caller.is(id) {
        // Everything is visible: the stored JSON goes out as it is.
        if let Some(body) = version.and_then(|v| state.lists.get(id, v)) {
            return Ok(json_response(body));
        }
        // Read after the version: the answer is at least that new.
        let mut pipe = redis::pipe();
        state.store.user_task_rows_command(&mut pipe, id);
        let rows: Vec<redis::Value> = state.store.query(&pipe).await?;
        let rows = rows
            .into_iter()
            .next()
            .and_then(crate::store::array)
            .unwrap_or_default();
        let body = raw_task_list(id, &rows_by_id(rows));
        if let Some(v) = version {
            state.lists.put(id, v, body.clone());
        }
        return Ok(json_response(body));
    }
    let mut pipe = redis::pipe();
    pipe.cmd("HGETALL")
        .arg(state.keys.row(RowType::User, id))
        .cmd("SMEMBERS")
        .arg(state.keys.user_groups(id));
    state.store.user_task_rows_command(&mut pipe, id);
    let replies: Vec<redis::Value> = state.store.query(&pipe).await?;
    let mut replies = replies.into_iter();
    let (Some(row), Some(groups), Some(rows)) = (replies.next(), replies.next(), replies.next())
    else {
        return Err(ApiError::Internal("list replies".into()));
    };
    let user = user_from(row, groups).ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    if !authz::can_view_user(&caller, &user) {
        return Err(ApiError::Forbidden("Insufficient permissions".into()));
    }
    let mut tasks = sorted_tasks(crate::store::array(rows).unwrap_or_default());
    tasks.retain(|t| authz::can_see_task(&caller, t));
    Ok(ok(UserTasks {
        user_id: id,
        count: tasks.len(),
        tasks: &tasks,
    }))
}

/// A validated `POST /users/{id}/tasks` body.
struct NewTask {
    title: String,
    group_id: u64,
    priority: Priority,
    deadline: Deadline,
    information: String,
}

impl CreateTask {
    fn validate(self) -> Result<NewTask, ApiError> {
        let title = match self.title.as_deref() {
            None | Some("") => return Err(ApiError::Unprocessable("Title is required".into())),
            Some(t) => domain::title(t)?,
        };
        let group_id = match self.group_id {
            None | Some(0) => return Err(ApiError::Unprocessable("Group ID is required".into())),
            Some(g) => u64::try_from(g)
                .map_err(|_| FieldError::new("group_id", format!("{g} is not a valid group id")))?,
        };
        Ok(NewTask {
            title,
            group_id,
            // 0 is the reference's "not set" (its default): ours then.
            priority: self
                .priority
                .filter(|p| *p != 0)
                .map(Priority::parse)
                .transpose()?
                .unwrap_or(Priority::DEFAULT),
            deadline: Deadline::parse(self.deadline.as_deref().unwrap_or(""))?,
            information: domain::information(self.information.as_deref().unwrap_or(""))?,
        })
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
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Credentials::Basic {
        id: Some(login),
        password,
        ..
    } = &credentials
        && let Ok(id) = path_id(&id, "user")
        && *login == id
        && let Some((version, _)) = crate::auth::remembered(&state, id, password)
        && let Ok(new) = parse_json::<CreateTask>(&body).and_then(CreateTask::validate)
        && let Some(response) = insert_task(&state, id, "", Some(version), new).await?
    {
        return Ok(response);
    }
    let caller = resolve(&state, &credentials, None).await?;
    let body = parse_json::<CreateTask>(&body)?;
    let id = path_id(&id, "user")?;
    may_access_user(&state, &caller, id).await?;
    let new = body.validate()?;
    // Creating for someone else as a group admin: only in groups it administers.
    let admin_check = if caller.is_owner() || caller.is(id) {
        String::new()
    } else {
        caller.script_name()
    };
    insert_task(&state, id, &admin_check, None, new)
        .await?
        .ok_or_else(|| ApiError::Internal("unguarded create was stale".into()))
}

/// Creates the task through the shard's batcher ([`crate::creates`]).
/// `guard` is the credential version user `id` must still have; `None`
/// back means it no longer does (the credential changed since it was
/// verified). The row's JSON is built here once: the script stores it and
/// the answer carries it.
async fn insert_task(
    state: &AppState,
    id: u64,
    admin_check: &str,
    guard: Option<u64>,
    new: NewTask,
) -> Result<Option<Response>, ApiError> {
    let now = now();
    let deadline = new.deadline.as_wire();
    let tail = NewTaskRow {
        title: &new.title,
        priority: new.priority.get(),
        deadline: &deadline,
        information: &new.information,
        user_id: id,
        group_id: new.group_id,
        now: &now,
    }
    .tail();
    let created = state
        .creates
        .create(NewCreate {
            user: id,
            group: new.group_id,
            admin_check: admin_check.to_owned(),
            guard: guard.map(|v| v.to_string()).unwrap_or_default(),
            tail: tail.clone(),
        })
        .await?;
    let code = match created {
        Created::Id(task_id) => {
            let mut body = String::with_capacity(96 + tail.len());
            body.push_str(
                r#"{"success":true,"data":{"message":"Task created successfully","task":{"id":"#,
            );
            body.push_str(itoa::Buffer::new().format(task_id));
            body.push_str(&tail);
            body.push_str("}}");
            return Ok(Some(
                (axum::http::StatusCode::CREATED, json_response(body.into())).into_response(),
            ));
        }
        Created::Refused(code) => code,
    };
    Err(match code.as_str() {
        "STALE_CREDENTIALS" => return Ok(None),
        "USER_NOT_FOUND" => ApiError::NotFound("User not found".into()),
        "GROUP_NOT_FOUND" => ApiError::Unprocessable("Group not found".into()),
        "NOT_MEMBER" => ApiError::Forbidden("User does not belong to specified group".into()),
        "FORBIDDEN_GROUP" => {
            ApiError::Forbidden("Insufficient permissions for the specified group".into())
        }
        other => ApiError::Internal(format!("unexpected refusal {other}").into()),
    })
}

pub async fn get_one(
    State(state): State<AppState>,
    credentials: Credentials,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (id, tid) = match (path_id(&id, "user"), path_id(&tid, "task")) {
        (Ok(id), Ok(tid)) => (id, tid),
        (Err(e), _) | (_, Err(e)) => {
            resolve(&state, &credentials, None).await?;
            return Err(e);
        }
    };
    // The caller and the task in one round trip.
    let (caller, reply) = authenticate_and_get(
        &state,
        &credentials,
        Some(id),
        state.keys.row(RowType::Task, tid),
    )
    .await?;
    may_access_user(&state, &caller, id).await?;
    // The stored JSON goes out as it is; only the two ids that decide
    // visibility are read from it.
    let row = match reply {
        Some(redis::Value::BulkString(raw)) => TaskOwnership::of(&raw).map(|o| (o, raw)),
        _ => None,
    };
    match row {
        Some((o, raw)) if o.user_id == id && authz::can_see(&caller, o.user_id, o.group_id) => {
            Ok(raw_ok(&raw))
        }
        _ => Err(not_found_for(&state, &caller, id).await),
    }
}

/// Who a stored task belongs to, read without copying its text fields.
#[derive(serde::Deserialize)]
struct TaskOwnership {
    user_id: u64,
    group_id: u64,
}

impl TaskOwnership {
    fn of(raw: &[u8]) -> Option<Self> {
        if !crate::store::is_object_text(raw) {
            return None;
        }
        serde_json::from_slice(raw).ok()
    }
}

/// 200 `{"success":true,"data":<raw>}` for a JSON value already encoded.
fn raw_ok(raw: &[u8]) -> Response {
    const HEAD: &[u8] = br#"{"success":true,"data":"#;
    let mut body = Vec::with_capacity(HEAD.len() + raw.len() + 1);
    body.extend_from_slice(HEAD);
    body.extend_from_slice(raw);
    body.push(b'}');
    json_response(body.into())
}

/// Runs `write_tasks` for the given ids. All or nothing.
async fn write_tasks(
    state: &AppState,
    caller: &Caller,
    action: &str,
    path_user: Option<u64>,
    ids: &[u64],
    changes: &Changes,
) -> Result<Result<Vec<Task>, Vec<(String, u64)>>, ApiError> {
    let mut inv = state.store.invocation(&SCRIPTS.write_tasks, Some(&now()));
    inv.arg(action)
        .arg(caller.script_name())
        .arg(path_user.map(|u| u.to_string()).unwrap_or_default())
        .arg(changes.group.map(|g| g.to_string()).unwrap_or_default())
        .arg(ids.len())
        .arg(ids);
    for (k, v) in &changes.pairs {
        inv.arg(*k).arg(v);
    }
    match state.store.write(&inv).await? {
        Outcome::Ok(rows) => Ok(Ok(rows.into_iter().filter_map(task_from).collect())),
        Outcome::Refused { code, details } if code == "REFUSED" => {
            let refused = details
                .chunks(2)
                .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.parse().ok()?)))
                .collect();
            Ok(Err(refused))
        }
        Outcome::Refused { code, .. } if code == "GROUP_NOT_FOUND" => {
            Err(ApiError::Unprocessable("Group not found".into()))
        }
        Outcome::Refused { code, .. } => Err(ApiError::Internal(
            format!("unexpected refusal {code}").into(),
        )),
    }
}

/// One task through its user's path: update, mark_done or delete.
async fn write_one(
    state: &AppState,
    caller: &Caller,
    action: &str,
    id: &str,
    tid: &str,
    changes: Changes,
) -> Result<Task, ApiError> {
    let id = path_id(id, "user")?;
    let tid = path_id(tid, "task")?;
    may_access_user(state, caller, id).await?;
    match write_tasks(state, caller, action, Some(id), &[tid], &changes).await? {
        Ok(mut tasks) => tasks.pop().ok_or_else(task_not_found),
        Err(refused) => Err(match refused.first().map(|(c, _)| c.as_str()) {
            Some("NOT_MEMBER") => {
                ApiError::Forbidden("User does not belong to specified group".into())
            }
            Some("FORBIDDEN_GROUP") => {
                ApiError::Forbidden("Insufficient permissions for the specified group".into())
            }
            _ => not_found_for(state, caller, id).await,
        }),
    }
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, tid)): Path<(String, String)>,
    JsonBody(body): JsonBody<TaskChanges>,
) -> Result<Response, ApiError> {
    let changes = body.validate()?;
    let task = write_one(&state, &caller, "update", &id, &tid, changes).await?;
    Ok(ok(TaskMessage {
        message: "Task updated successfully",
        task,
    }))
}

pub async fn mark_done(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let task = write_one(&state, &caller, "mark_done", &id, &tid, Changes::none()).await?;
    Ok(ok(TaskMessage {
        message: "Task marked as done",
        task,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let task = write_one(&state, &caller, "delete", &id, &tid, Changes::none()).await?;
    Ok(ok(TaskMessage {
        message: "Task deleted successfully",
        task,
    }))
}

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
        .set_members_chunked(&state.keys.user_tasks(me))
        .await?
        .into_iter()
        .collect();
    for g in &caller.admin_of {
        ids.extend(
            state
                .store
                .set_members_chunked(&state.keys.group_tasks(*g))
                .await?,
        );
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
        return Err(ApiError::Forbidden("Insufficient permissions".into()));
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

/// Task counts per user, keyed by full name like the reference system; two
/// users with the same name are told apart by their id (`Ann (#7)`) instead
/// of being merged.
pub fn counts_by_name(
    counts: &BTreeMap<u64, u64>,
    names: &HashMap<u64, String>,
) -> BTreeMap<String, u64> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in counts.keys() {
        if let Some(n) = names.get(id) {
            *seen.entry(n.as_str()).or_default() += 1;
        }
    }
    counts
        .iter()
        .map(|(id, n)| {
            let name = names.get(id).map(String::as_str).unwrap_or("");
            let key = if name.is_empty() || seen.get(name).copied().unwrap_or(0) > 1 {
                format!("{name} (#{id})")
            } else {
                name.to_owned()
            };
            (key, *n)
        })
        .collect()
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
        data["user_task_counts_by_id"] = json!(
            by_user
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>()
        );
    }
    if caller.is_owner() {
        data["group_task_counts"] = json!(by_group);
        data["total_users"] = json!(state.store.count(&state.keys.all(RowType::User)).await?);
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

#[derive(Deserialize)]
pub struct Batch {
    task_ids: Option<Vec<i64>>,
    action: Option<String>,
    updates: Option<TaskChanges>,
}

pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Batch>,
) -> Result<Response, ApiError> {
    let raw_ids = body.task_ids.unwrap_or_default();
    if raw_ids.is_empty() {
        return Err(ApiError::Unprocessable("Task IDs are required".into()));
    }
    if raw_ids.len() > BATCH_MAX {
        return Err(
            FieldError::new("task_ids", format!("at most {BATCH_MAX} tasks per batch")).into(),
        );
    }
    let mut ids = Vec::with_capacity(raw_ids.len());
    for id in &raw_ids {
        let id = u64::try_from(*id)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| FieldError::new("task_ids", format!("{id} is not a valid task id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let action = body.action.unwrap_or_default();
    let action = match action.as_str() {
        "" | "update" => "update",
        "mark_done" => "mark_done",
        "delete" => "delete",
        other => {
            return Err(FieldError::new(
                "action",
                format!("`{other}` is not one of update, mark_done, delete"),
            )
            .into());
        }
    };
    // An update that names nothing to change (no `updates`, or only the
    // reference's "not set" values) still answers the tasks, as a single
    // task's PUT with `{}` does.
    let changes = match action {
        "update" => body.updates.unwrap_or_default().validate()?,
        _ => Changes::none(),
    };
    match write_tasks(&state, &caller, action, None, &ids, &changes).await? {
        Ok(tasks) => {
            let mut data = json!({"total_requested": raw_ids.len()});
            if action == "delete" {
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
        Err(refused) => {
            let group = changes.group.unwrap_or(0);
            let errors: Vec<String> = refused
                .iter()
                .map(|(code, id)| match code.as_str() {
                    "NOT_MEMBER" => format!("User of task {id} does not belong to group {group}"),
                    "FORBIDDEN_GROUP" => {
                        format!("Insufficient permissions for group {group} (task {id})")
                    }
                    _ => format!("Task {id} not found"),
                })
                .collect();
            let status = if refused.iter().any(|(c, _)| c == "NOT_FOUND") {
                axum::http::StatusCode::NOT_FOUND
            } else {
                axum::http::StatusCode::FORBIDDEN
            };
            Err(ApiError::Batch {
                status,
                message: format!("{}; nothing was changed", errors[0]),
                errors,
            })
        }
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
            (Some(g), _) => {
                state
                    .store
                    .tasks(Source::Set(state.keys.group_tasks(g)))
                    .await?
            }
            (None, Some(u)) => {
                state
                    .store
                    .tasks(Source::Set(state.keys.user_tasks(u)))
                    .await?
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_rows_are_put_in_id_order_and_damaged_ones_left_out() {
        let row = |raw: &str| redis::Value::BulkString(raw.as_bytes().to_vec());
        let rows = vec![
            row(r#"{"id":100,"title":"c"}"#),
            row(r#"{"id":9,"title":"a"}"#),
            redis::Value::Nil,
            row(r#"{"id":"x","title":"damaged"}"#),
            row("not json"),
            row(r#"{"id":10,"title":"b"}"#),
        ];
        let sorted: Vec<String> = rows_by_id(rows)
            .into_iter()
            .map(|r| String::from_utf8(r).expect("utf-8"))
            .collect();
        assert_eq!(
            sorted,
            [
                r#"{"id":9,"title":"a"}"#,
                r#"{"id":10,"title":"b"}"#,
                r#"{"id":100,"title":"c"}"#
            ]
        );
        assert_eq!(row_id(br#"{"id":18446744073709551615,"#), Some(u64::MAX));
        assert_eq!(row_id(br#"{"id":18446744073709551616,"#), None);
        assert_eq!(row_id(br#"{"id":}"#), None);
    }

    #[test]
    fn same_names_are_told_apart_by_id() {
        let counts: BTreeMap<u64, u64> = [(1, 2), (2, 3), (3, 1)].into();
        let names: HashMap<u64, String> = [
            (1, "Ann".to_owned()),
            (2, "Ann".to_owned()),
            (3, "Bob".to_owned()),
        ]
        .into();
        let by_name = counts_by_name(&counts, &names);
        assert_eq!(by_name.get("Ann (#1)"), Some(&2));
        assert_eq!(by_name.get("Ann (#2)"), Some(&3));
        assert_eq!(by_name.get("Bob"), Some(&1));
    }
}
