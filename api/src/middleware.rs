//! Cross-cutting request handling, in one layer (each extra layer costs a
//! boxed future per request on the hottest paths):
//!
//! * `OPTIONS` is answered 200 before anything else (CORS preflight);
//! * during maintenance (a restore), data requests are answered 503 with
//!   `Retry-After`; `/health` and `/admin/*` still answer;
//! * a span per request with method, matched route, status and duration;
//! * every error answer carries the JSON envelope, even those produced
//!   outside handlers (axum's 405, tower-http's 413);
//! * the reference system's CORS headers on every answer.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use crate::error::{ApiError, canonical_message, error_response};
use crate::state::AppState;

/// The one middleware.
pub async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        let mut response = Response::new(axum::body::Body::empty());
        cors_headers(&mut response);
        return response;
    }
    if state.in_maintenance() {
        let path = request.uri().path();
        // The flag is polled; look again before refusing, so the first
        // requests after a restore are not turned away for nothing.
        if path != "/health" && !path.starts_with("/admin/") && state.still_in_maintenance().await {
            let mut response = axum::response::IntoResponse::into_response(ApiError::Maintenance);
            cors_headers(&mut response);
            return response;
        }
    }
    let start = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let span = tracing::info_span!(
        "request",
        http.method = %request.method(),
        http.route = route.as_ref().map_or("(unmatched)", MatchedPath::as_str),
        http.status_code = Empty,
        duration_ms = Empty,
    );
    let mut response = json_errors(next.run(request).instrument(span.clone()).await);
    cors_headers(&mut response);
    if !span.is_disabled() {
        span.record("http.status_code", response.status().as_u16());
        span.record("duration_ms", start.elapsed().as_secs_f64() * 1_000.0);
        span.in_scope(|| tracing::debug!("request completed"));
    }
    response
}

/// Gives an error answer without a JSON body the JSON envelope, keeping
/// headers such as `Allow`.
fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), "non-JSON error answer replaced");
    }
    let (parts, _body) = response.into_parts();
    let mut replaced = error_response(status, canonical_message(status));
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced
}

fn cors_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Authorization, X-Owner-Password"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
}
