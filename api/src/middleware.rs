//! Cross-cutting request handling: the request span and the guarantee that
//! every error answer carries the JSON envelope.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use crate::error::{canonical_message, error_response};

/// Wraps each request in a span with its method, matched route, status and
/// duration. Installed with `Router::layer`, so routing has already run and
/// the matched path (`/users/{id}`, not `/users/17`) is known.
pub async fn trace_request(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let span = tracing::info_span!(
        "request",
        http.method = %request.method(),
        http.route = route.as_ref().map_or("(unmatched)", MatchedPath::as_str),
        http.status_code = Empty,
        duration_ms = Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let duration_ms = start.elapsed().as_secs_f64() * 1_000.0;
    span.record("http.status_code", status);
    span.record("duration_ms", duration_ms);
    span.in_scope(|| tracing::debug!("request completed"));
    response
}

/// Gives every error answer without a JSON body (axum's 405, tower-http's
/// 413 and timeouts) the JSON envelope, keeping headers such as `Allow`.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
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

/// The reference system's CORS headers on every answer; any `OPTIONS`
/// request is answered 200 with an empty body before authentication.
pub async fn cors(request: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, Method};
    let mut response = if request.method() == Method::OPTIONS {
        Response::new(axum::body::Body::empty())
    } else {
        next.run(request).await
    };
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
    response
}
