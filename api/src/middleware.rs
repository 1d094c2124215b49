//! The edge: everything that happens to a request around the router, in
//! one plain async function that hyper calls directly.
//!
//! * `OPTIONS` is answered 200 before anything else (CORS preflight);
//! * a state-changing request a browser sent from another site is
//!   answered 403 (see [`crate::origin`]);
//! * during maintenance (a restore), data requests are answered 503 with
//!   `Retry-After`; `/health`, `/admin/*` and what operators watch
//!   (`/metrics`, `/status`, `/status/data`) still answer;
//! * bodies over [`BODY_LIMIT`] (an import's over `IMPORT_MAX_BYTES`)
//!   are refused with 413: at once when `Content-Length` says so,
//!   otherwise when the body reader crosses it;
//! * a request running longer than `REQUEST_TIMEOUT` is answered 503 with
//!   `Retry-After` (`POST /admin/sync` waits for syncd for up to
//!   `SYNC_REQUEST_TIMEOUT`, and so gets that long, and a little more,
//!   before it is cut off);
//! * a request id (see [`crate::request_id`]) in the span, the change log
//!   and the answer's `X-Request-Id`;
//! * a span per request with method, matched route, status and duration;
//! * every error answer carries the JSON envelope, even those produced
//!   outside handlers (axum's 405 and its extractors' rejections);
//! * a handler that panics is answered 500 with the envelope (and logged
//!   once), never with a dropped connection;
//! * CORS headers on every answer: the reference's `*`, or the listed
//!   `CORS_ORIGINS` (see [`crate::origin`]);
//! * the rate limit's headers, from the request's count (see
//!   [`crate::ratelimit`]);
//! * `ETag` on every `200` JSON answer to a `GET`, and `304` for a
//!   matching `If-None-Match` (see [`crate::etag`]).
//!
//! Why not axum middleware and tower-http layers: `Router::layer` wraps
//! every route in each layer, so each one cost a boxed, cloned service
//! and a boxed future per request. With four of them that was about 13%
//! of the throughput of a single-task GET (measured with `deploy/bench.sh`
//! and an alternating A/B on the same machine). Here the router is called
//! once, and the matched route for the span is looked up in a table built
//! from the same list as the router (see [`crate::routes::Api`]), only when
//! the span is recorded at all.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http_body_util::Limited;
use hyper::body::Bytes;
use tower::Service;
use tracing::Instrument;
use tracing::field::Empty;

use crate::error::{ApiError, canonical_message, error_response};
use crate::origin::Origins;
use crate::routes::Api;
use crate::state::AppState;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How much longer than `SYNC_REQUEST_TIMEOUT` a `POST /admin/sync` may
/// run: the handler answers 504 itself at that time, and must get to.
const SYNC_MARGIN: Duration = Duration::from_secs(5);

/// The router and what the edge needs around it. Cloning is one atomic
/// increment.
#[derive(Clone)]
pub struct Edge(Arc<Inner>);

struct Inner {
    state: AppState,
    router: Router,
    routes: matchit::Router<&'static str>,
    origins: Origins,
}

impl Edge {
    pub fn new(state: AppState) -> Self {
        let api = crate::routes::api(state.clone());
        Self::with(state, api)
    }

    /// The edge around any router (tests use one of their own).
    fn with(state: AppState, api: Api) -> Self {
        let Api { router, routes, .. } = api;
        let origins = Origins::new(&state.config.cors_origins);
        Edge(Arc::new(Inner {
            state,
            router,
            routes,
            origins,
        }))
    }

    /// This shard's meters (the accept loop counts connections).
    pub fn meters(&self) -> std::sync::Arc<crate::metrics::ShardMeters> {
        self.0.state.routes.clone()
    }

    /// Answers one request. Never fails: every failure is an answer.
    /// Counted in the request metrics (see [`crate::metrics`]) whatever
    /// the answer, by the route's pattern.
    pub async fn handle<B>(self, request: Request<B>) -> Result<Response, Infallible>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let start = Instant::now();
        let route = self
            .0
            .routes
            .at(request.uri().path())
            .map_or(crate::metrics::UNMATCHED, |m| *m.value);
        let method = request.method().clone();
        let meters = &self.0.state.routes;
        let _in_flight = meters.enter();
        let response = self.answer(request, route, start).await;
        meters.record(route, &method, response.status().as_u16(), start.elapsed());
        Ok(response)
    }

    async fn answer<B>(&self, request: Request<B>, route: &'static str, start: Instant) -> Response
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let Inner {
            state,
            router,
            routes: _,
            origins,
        } = &*self.0;
        // Kept only when the answer depends on it (origins are listed).
        let origin = origins
            .echoes()
            .then(|| request.headers().get(header::ORIGIN).cloned())
            .flatten();
        let origin = origin.as_ref();
        if request.method() == Method::OPTIONS {
            let mut response = Response::new(Body::empty());
            origins.cors_headers(origin, &mut response);
            return response;
        }
        if let Some(refusal) = origins.refusal(request.method(), request.headers()) {
            let mut response = ApiError::Forbidden(refusal.to_owned()).into_response();
            origins.cors_headers(origin, &mut response);
            return response;
        }
        if state.in_maintenance() {
            let path = unversioned(request.uri().path());
            // The flag is polled; look again before refusing, so the first
            // requests after a restore are not turned away for nothing.
            if !answers_in_maintenance(path) && state.still_in_maintenance().await {
                let mut response = ApiError::Maintenance.into_response();
                origins.cors_headers(origin, &mut response);
                return response;
            }
        }
        let trusted = request
            .extensions()
            .get::<crate::server::ClientAddr>()
            .is_some_and(|peer| state.config.trusted_proxies.contains(&peer.0));
        let request_id = crate::request_id::of(request.headers(), trusted);
        let span = tracing::info_span!(
            "request",
            request_id = &*request_id,
            http.method = %request.method(),
            http.route = route,
            http.status_code = Empty,
            duration_ms = Empty,
        );
        let limit = time_limit(state, request.method(), unversioned(request.uri().path()));
        let if_none_match = crate::etag::condition(request.method(), request.headers());
        let mut metered = None;
        let body_limit = body_limit(state, request.method(), unversioned(request.uri().path()));
        let response = match limit_body(request, body_limit) {
            None => ApiError::PayloadTooLarge(body_limit).into_response(),
            Some(request) => {
                let routed = AssertUnwindSafe(router.clone().call(request))
                    .catch_unwind()
                    .instrument(span.clone());
                let (outcome, counted) = crate::ratelimit::scope(
                    start,
                    crate::acting::scope(request_id.clone(), tokio::time::timeout(limit, routed)),
                )
                .await;
                metered = counted;
                match outcome {
                    Ok(Ok(Ok(response))) => response,
                    Ok(Ok(Err(never))) => match never {},
                    Ok(Err(panic)) => {
                        span.in_scope(|| {
                            tracing::error!(panic = panic_message(&*panic), "handler panicked")
                        });
                        error_response(
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "Internal server error",
                        )
                    }
                    Err(_elapsed) => {
                        span.in_scope(|| {
                            tracing::warn!(limit_ms = limit.as_millis() as u64, "request timed out")
                        });
                        // A 503 like any other "not now", with its Retry-After.
                        ApiError::Unavailable("Request timed out".into()).into_response()
                    }
                }
            }
        };
        let mut response = json_errors(response);
        if let Some(condition) = if_none_match {
            response = crate::etag::apply(condition, response).await;
        }
        if let Ok(value) = header::HeaderValue::from_str(&request_id) {
            response
                .headers_mut()
                .insert(crate::request_id::HEADER.clone(), value);
        }
        if let Some(m) = &metered {
            crate::ratelimit::headers(m, response.headers_mut());
        }
        origins.cors_headers(origin, &mut response);
        if !span.is_disabled() {
            span.record("http.status_code", response.status().as_u16());
            span.record("duration_ms", start.elapsed().as_secs_f64() * 1_000.0);
            span.in_scope(|| tracing::debug!("request completed"));
        }
        response
    }
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// The path as the reference names it: the versioned mount
/// ([`crate::routes::VERSIONED`]) answers identically, so the edge's rules
/// (maintenance exemptions, the sync time limit) see through it.
fn unversioned(path: &str) -> &str {
    path.strip_prefix(crate::routes::VERSIONED)
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path)
}

/// Whether `path` answers during a restore: health, the owner's admin
/// views, and what operators watch the restore with.
fn answers_in_maintenance(path: &str) -> bool {
    matches!(path, "/health" | "/metrics" | "/status" | "/status/data")
        || path.starts_with("/admin/")
}

/// How long a request may run before it is answered 503.
fn time_limit(state: &AppState, method: &Method, path: &str) -> Duration {
    let general = state.config.request_timeout;
    if method == Method::POST && path == "/admin/sync" {
        general.max(state.config.sync_request_timeout + SYNC_MARGIN)
    } else {
        general
    }
}

/// The largest body a request may send: [`BODY_LIMIT`], but an import's
/// file may be `IMPORT_MAX_BYTES`.
fn body_limit(state: &AppState, method: &Method, path: &str) -> usize {
    let import = path
        .strip_prefix("/users/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| rest == "tasks/import");
    if method == Method::POST && import {
        state.config.imports.max_bytes
    } else {
        BODY_LIMIT
    }
}

/// The request with its body capped at `limit` (the extractors answer
/// 413 when the reader crosses it); `None` when the declared length is
/// already over.
fn limit_body<B>(request: Request<B>, limit: usize) -> Option<Request<Body>>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    // hyper knows the declared length: it is the body's lower size bound.
    if request.body().size_hint().lower() > limit as u64 {
        return None;
    }
    // An empty body cannot cross the limit: spare it the wrapper.
    if request.body().is_end_stream() {
        return Some(request.map(Body::new));
    }
    Some(request.map(|body| Body::new(Limited::new(body, limit))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use http_body_util::{BodyExt, Empty};
    use taskmaster_shared::config::{ApiConfig, lookup_from_pairs};

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_500_with_the_envelope() {
        let config = ApiConfig::from_lookup(lookup_from_pairs(&[])).expect("defaults are valid");
        let state =
            AppState::new(config.clone(), crate::Services::new(&config)).expect("state builds");
        let mut routes = matchit::Router::new();
        routes.insert("/boom", "/boom").expect("route");
        let router = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("boom");
                }
                "unreachable"
            }),
        );
        let edge = Edge::with(
            state,
            Api {
                router,
                routes,
                paths: Vec::new(),
            },
        );
        for _ in 0..2 {
            let request = Request::get("/boom")
                .body(Empty::<Bytes>::new())
                .expect("request");
            let Ok(response) = edge.clone().handle(request).await;
            assert_eq!(response.status(), 500);
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            assert_eq!(
                &body[..],
                br#"{"success":false,"error":"Internal server error"}"#
            );
        }
    }
}
