//! The router: every path of the API and the layers around it.

mod admin;
mod groups;
mod health;
mod tasks;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use serde::Serialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::middleware::edge;
use crate::state::AppState;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    Router::new()
        .route("/health", get(health::health))
        .route("/users", get(users::list).post(users::create))
        .route("/users/search", get(users::search))
        .route(
            "/users/{id}",
            get(users::get_one).put(users::update).delete(users::delete),
        )
        .route(
            "/users/{id}/worktimes",
            get(users::get_work_times).put(users::put_work_times),
        )
        .route(
            "/users/{id}/tasks",
            get(tasks::list_for_user).post(tasks::create),
        )
        .route(
            "/users/{id}/tasks/{tid}",
            get(tasks::get_one).put(tasks::update).delete(tasks::delete),
        )
        .route("/users/{id}/tasks/{tid}/done", put(tasks::mark_done))
        .route("/groups", get(groups::list).post(groups::create))
        .route(
            "/groups/{id}",
            get(groups::get_one)
                .put(groups::update)
                .delete(groups::delete),
        )
        .route(
            "/groups/{id}/users",
            get(groups::members).post(groups::add_member),
        )
        .route(
            "/groups/{id}/users/{uid}",
            axum::routing::delete(groups::remove_member),
        )
        .route("/groups/{id}/tasks", get(groups::tasks))
        .route("/groups/{id}/stats", get(groups::stats))
        .route("/tasks/search", get(tasks::search))
        .route("/tasks/stats", get(tasks::stats))
        .route("/tasks/batch", post(tasks::batch))
        .route("/tasks/filter", get(tasks::filter))
        .route("/admin/status", get(admin::status))
        .route("/admin/stats", get(admin::stats))
        .route("/admin/sync", post(admin::sync))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Layers run bottom-up for responses: the outermost is last here.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[derive(Serialize)]
struct Envelope<T> {
    success: bool,
    data: T,
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

/// The id a create script answered with.
pub fn new_id(items: &[redis::Value], script: &'static str) -> Result<u64, ApiError> {
    items
        .first()
        .and_then(crate::store::u64_of)
        .ok_or_else(|| ApiError::Internal(format!("{script} reply").into()))
}

/// The current time as stored and answered.
pub fn now() -> String {
    taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros())
}

/// `completed / total` as a percentage, 0 without tasks.
pub fn completion_rate(completed: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        completed as f64 * 100.0 / total as f64
    }
}
