//! `GET`/`HEAD /health`: public liveness of the api and its Redis.
//!
//! 200 `{"status":"healthy","timestamp":…}` when Redis answers a PING;
//! 503 `{"status":"maintenance",…}` with `Retry-After` while a restore runs;
//! 503 `{"status":"unhealthy","timestamp":…,"reason":…}` when it does not,
//! within `HEALTH_TIMEOUT` (never hangs). Not enveloped, like the reference.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use taskmaster_shared::time::rfc3339_seconds;

use crate::answers::Health;
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    let timestamp = rfc3339_seconds(chrono::Utc::now());
    if state.in_maintenance() && state.still_in_maintenance().await {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                reason: Some("a restore is running"),
                status: "maintenance",
                timestamp,
            }),
        )
            .into_response();
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(taskmaster_shared::control::MAINTENANCE_RETRY_AFTER_SECS),
        );
        return response;
    }
    match tokio::time::timeout(state.config.health_timeout, state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(Health {
                reason: None,
                status: "healthy",
                timestamp,
            }),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: redis failed");
            unhealthy(timestamp, "redis unavailable")
        }
        Err(_) => {
            tracing::warn!("health check: redis did not answer in time");
            unhealthy(timestamp, "redis did not answer in time")
        }
    }
}

fn unhealthy(timestamp: String, reason: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Health {
            reason: Some(reason),
            status: "unhealthy",
            timestamp,
        }),
    )
        .into_response()
}
