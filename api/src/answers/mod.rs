//! Every answer's shape, as one Rust type each, and the envelope around
//! them: `{"success": true, "data": …}` (errors are enveloped by
//! [`crate::error`]).
//!
//! Field order: an answer's own fields are declared in alphabetical order,
//! the order these answers have always had on the wire (they were built as
//! JSON maps, which sort their keys, as the reference's were); the rows
//! inside them (a [`Task`], a [`User`], a [`Group`]) keep the order of their
//! type, the same in every answer. The two busiest answers are spliced
//! from stored JSON instead (see `routes/tasks/user_tasks.rs`); a test
//! holds those bytes to these types.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use taskmaster_shared::control::{AuditBacklog, Counts};
use taskmaster_shared::domain::WorkTimes;
use taskmaster_shared::model::{Group, User};
use utoipa::ToSchema;

mod audit;
mod feed;
mod jobs;
mod status;
mod tasks;
mod webhooks;

pub use audit::*;
pub use feed::*;
pub use jobs::*;
pub use status::*;
pub use tasks::*;
pub use webhooks::*;

#[derive(Serialize, ToSchema)]
struct Envelope<T> {
    success: bool,
    data: T,
}

/// The bytes of [`ok`]'s body for `data` (what its `ETag` is the hash of).
pub fn ok_body<T: Serialize>(data: &T) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        success: true,
        data,
    })
    .unwrap_or_default()
}

/// The bytes of [`created`]'s body for `data` (an idempotent create keeps
/// them for its retries).
pub fn created_body<T: Serialize>(data: &T) -> Vec<u8> {
    ok_body(data)
}

/// 200 `{"success": true, "data": …}`.
pub fn ok<T: Serialize>(data: T) -> Response {
    Json(Envelope {
        success: true,
        data,
    })
    .into_response()
}

/// 201 `{"success": true, "data": …}`.
/// 202 with the envelope: taken, done later.
pub fn accepted<T: Serialize>(data: T) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(Envelope {
            success: true,
            data,
        }),
    )
        .into_response()
}

pub fn created<T: Serialize>(data: T) -> Response {
    (
        StatusCode::CREATED,
        Json(Envelope {
            success: true,
            data,
        }),
    )
        .into_response()
}

// --- users -------------------------------------------------------------------

/// `GET /users`.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub count: usize,
    pub users: Vec<User>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `GET /users/search`.
#[derive(Serialize, ToSchema)]
pub struct UserSearch {
    pub count: usize,
    pub query: String,
    pub results: Vec<User>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// A user written: `POST`, `PUT` and `DELETE /users/{id}`.
#[derive(Serialize, ToSchema)]
pub struct UserMessage {
    pub message: &'static str,
    pub user: User,
}

/// `POST /auth/login` and `POST /auth/refresh`: a session's tokens. The
/// secrets are shown here once; the server keeps only their digests.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "tma_3.Yp1kq0mJx2W8cV9bN4rT5A.8xJm2vQ9...",
    "expires_in": 900,
    "refresh_expires_in": 2592000,
    "refresh_token": "tmr_3.Yp1kq0mJx2W8cV9bN4rT5A.Qw3eR5tY...",
    "token_type": "Bearer",
    "user": {"id": 3, "full_name": "Ann Lee", "role": "user", "group_ids": [1], "number": "",
             "email": "ann@example.com", "work_times": {}, "active": true,
             "created_at": "2026-12-04T09:30:00.123456Z", "updated_at": "2026-12-04T09:30:00.123456Z"}
}))]
pub struct SessionTokens {
    /// Opens requests as `Authorization: Bearer …` for `expires_in` seconds.
    pub access_token: String,
    pub expires_in: u64,
    /// Buys a new pair at `POST /auth/refresh`, once, within
    /// `refresh_expires_in` seconds.
    pub refresh_expires_in: u64,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub user: User,
}

/// `POST /auth/login?cookie=true`, and a refresh by cookie: the session is
/// in HTTP-only cookies, and the page gets the CSRF token it must send as
/// `X-CSRF-Token` with state-changing requests.
#[derive(Serialize, ToSchema)]
pub struct CookieSession {
    pub csrf_token: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
    /// Always `cookie`.
    pub token_type: &'static str,
    pub user: User,
}

/// A login's or a refresh's answer: the tokens, or the cookies' news.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SessionAnswer {
    Tokens(SessionTokens),
    Cookies(CookieSession),
}

/// `GET /auth/me`: who the caller is.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// Groups the caller administers (empty for the owner header).
    pub admin_of: Vec<u64>,
    /// How it authenticated: `owner_header`, `basic`, `session` (a bearer
    /// access token), `cookie` or `token` (a personal API token).
    pub method: &'static str,
    pub role: taskmaster_shared::domain::Role,
    /// Its account; `null` for the owner header, which has none.
    pub user: Option<User>,
}

/// A personal API token as listed: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiToken {
    pub created_at: String,
    /// Whether it has expired (it then opens nothing; revoke it to remove
    /// it from the list).
    pub expired: bool,
    /// `null`: it never expires.
    pub expires_at: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_-]{22}$")]
    pub id: String,
    /// Its last use, to the minute; `null` if never used.
    pub last_used_at: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// A read-only token is refused (403) anything but GET, HEAD and
    /// OPTIONS.
    pub read_only: bool,
}

/// `GET /auth/tokens`: the caller's personal tokens, newest first.
#[derive(Serialize, ToSchema)]
pub struct ApiTokenList {
    pub count: usize,
    pub tokens: Vec<ApiToken>,
}

/// `POST /auth/tokens`: the new token, with its text, shown this once.
#[derive(Serialize, ToSchema)]
pub struct ApiTokenCreated {
    pub api_token: ApiToken,
    pub message: &'static str,
    /// `Authorization: Bearer <token>`. Only a digest of it is stored: it
    /// cannot be shown again.
    #[schema(pattern = "^tmk_[0-9]+\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}$")]
    pub token: String,
}

/// `GET /users/{id}/worktimes`.
#[derive(Serialize, ToSchema)]
pub struct UserWorkTimes {
    pub user_id: u64,
    pub work_times: WorkTimes,
}

/// `PUT /users/{id}/worktimes`.
#[derive(Serialize, ToSchema)]
pub struct WorkTimesUpdated {
    pub message: &'static str,
    pub work_times: WorkTimes,
}

// --- groups ------------------------------------------------------------------

/// `GET /groups`.
#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub count: usize,
    pub groups: Vec<Group>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// A group written: `POST` and `PUT /groups/{id}`.
#[derive(Serialize, ToSchema)]
pub struct GroupMessage {
    pub message: &'static str,
    pub group: Group,
}

/// `GET /groups/{id}`: the group's row with its counts and its admin.
#[derive(Serialize, ToSchema)]
pub struct GroupDetail {
    /// Absent when the admin's account is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminSummary>,
    pub admin_id: u64,
    pub created_at: String,
    pub id: u64,
    pub name: String,
    pub tasks_count: u64,
    pub updated_at: String,
    pub users_count: u64,
}

/// The admin of a group, as `GET /groups/{id}` names it.
#[derive(Serialize, ToSchema)]
pub struct AdminSummary {
    pub email: String,
    pub full_name: String,
    pub id: u64,
}

/// `DELETE /groups/{id}`.
#[derive(Serialize, ToSchema)]
pub struct GroupDeleted {
    pub affected_users: u64,
    pub deleted_tasks: u64,
    pub group: Group,
    pub message: &'static str,
}

/// `GET /groups/{id}/users`.
#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub count: usize,
    pub group_id: u64,
    pub users: Vec<Member>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// A member as `/groups/{id}/users` lists it: in full to the owner and the
/// group's admin, by name to the other members (who may not read another
/// user's profile either).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Member {
    Full(MemberSummary),
    Name(MemberName),
}

/// A co-member by name only; nothing else (`additionalProperties: false`,
/// so that the two kinds of member tell apart in the schema).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberName {
    pub id: u64,
    pub full_name: String,
}

/// A member as the group's managers see it (no credentials).
#[derive(Serialize, ToSchema)]
pub struct MemberSummary {
    pub id: u64,
    pub full_name: String,
    pub role: &'static str,
    pub email: String,
    pub number: String,
    pub created_at: String,
}

/// `POST /groups/{id}/users`.
#[derive(Serialize, ToSchema)]
pub struct MemberAdded {
    pub group_id: u64,
    pub message: &'static str,
    pub user_id: u64,
}

/// `DELETE /groups/{id}/users/{uid}`.
#[derive(Serialize, ToSchema)]
pub struct MemberRemoved {
    /// The user's tasks in the group, moved to another of its groups or
    /// deleted.
    pub affected_tasks: u64,
    pub group_id: u64,
    pub message: &'static str,
    pub user_id: u64,
}

// --- admin -------------------------------------------------------------------

/// The reference's seven sync keys, in `/admin/status` and `/admin/stats`.
#[derive(Serialize, ToSchema)]
pub struct SyncSummary {
    pub dirty_types: Vec<&'static str>,
    pub healthy: bool,
    pub interval: Option<String>,
    pub last_sync: String,
    pub pending_changes: bool,
    pub running: bool,
    pub time_since_last_sync: Option<String>,
}

/// `GET /admin/status`: [`SyncSummary`]'s keys and the rest.
#[derive(Serialize, ToSchema)]
pub struct AdminStatus {
    pub configuration: Configuration,
    pub dirty_types: Vec<&'static str>,
    pub healthy: bool,
    pub interval: Option<String>,
    pub last_sync: String,
    pub pending: Counts,
    pub pending_changes: bool,
    pub postgres: PostgresView,
    pub postgres_status: String,
    pub redis: RedisView,
    pub redis_status: &'static str,
    pub running: bool,
    pub syncd: Option<SyncdView>,
    pub time_since_last_sync: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Configuration {
    pub api_port: u16,
    pub environment: &'static str,
    pub sync_interval: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PostgresView {
    pub database: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct RedisView {
    pub address: String,
    pub database: i64,
    pub status: &'static str,
}

/// The active syncd, from its status record.
#[derive(Serialize, ToSchema)]
pub struct SyncdView {
    pub heartbeat_at: String,
    pub host: String,
    pub instance: String,
    pub last_backup: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub last_result: Option<String>,
    pub last_rows: u64,
    pub last_rows_per_sec: f64,
    pub pid: u32,
    /// Change log entries the audit log has not appended to PostgreSQL
    /// yet (it grows while PostgreSQL is down).
    pub audit: Option<AuditBacklog>,
}

/// `GET /admin/stats`.
#[derive(Serialize, ToSchema)]
pub struct AdminStats {
    pub postgresql: Option<Counts>,
    pub redis: Counts,
    pub sync: SyncSummary,
}

/// `POST /admin/sync`: the reference's envelope, with the action as given
/// and syncd's result.
#[derive(Serialize, ToSchema)]
pub struct SyncDone {
    pub action: String,
    pub data: serde_json::Value,
    pub message: &'static str,
    pub success: bool,
}

// --- health ------------------------------------------------------------------

/// `GET /health` (not enveloped, like the reference's).
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub status: &'static str,
    pub timestamp: String,
}
