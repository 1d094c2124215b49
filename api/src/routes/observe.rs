//! What operators watch: `GET /metrics` (Prometheus), and the status
//! dashboard, `GET /status` (the page) with `GET /status/data` (what it
//! polls).
//!
//! `/metrics` follows `METRICS_TOKEN` (see
//! `taskmaster_shared::metrics::may_scrape`): without a token, callers on
//! this machine only, and not through a proxy (403); with one, whoever
//! sends it (401 otherwise). 404 when metrics are off (`METRICS=off`).
//!
//! The page is public and holds no data: it asks for a login (the owner
//! signs in with a cookie session, see `crate::auth::cookie`) and then
//! polls `/status/data`, which is the owner's only.

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::server::ClientAddr;
use crate::state::AppState;

/// The media type of the Prometheus text format.
pub const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub async fn metrics(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let registry = &state.services.metrics.registry;
    if !registry.enabled() {
        return Err(ApiError::NotFound("Metrics are off (METRICS=off)".into()));
    }
    let config = &state.config.metrics;
    let peer = client.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.0);
    if !taskmaster_shared::metrics::may_scrape(config, peer, &headers) {
        if config.token.is_empty() {
            return Err(ApiError::Forbidden(
                "Metrics are served to this machine only; set METRICS_TOKEN to scrape them from elsewhere"
                    .into(),
            ));
        }
        // The challenge a scraper can answer: the token, not a password.
        let mut refused = ApiError::Unauthorized.into_response();
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"taskmaster metrics\""),
        );
        return Ok(refused);
    }
    state.services.metrics.publish();
    let text = registry.render().unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, EXPOSITION)], text).into_response())
}

/// `GET /status`: the dashboard page (see `status.html`).
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        crate::status::PAGE,
    )
        .into_response()
}

/// What the page may do: its own inline script and style, calls to this
/// origin, nothing else (no framing, no other origin's scripts).
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// `GET /status/data`: the owner's. Its 401 carries no Basic challenge:
/// a browser would answer one with its own password dialog instead of
/// letting the page show its login form.
pub async fn data(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    let caller = match caller {
        Ok(caller) => caller,
        Err(ApiError::Unauthorized) => {
            let mut refused = ApiError::Unauthorized.into_response();
            refused.headers_mut().remove(header::WWW_AUTHENTICATE);
            return Ok(refused);
        }
        Err(other) => return Err(other),
    };
    if !caller.is_owner() {
        return Err(ApiError::Forbidden("Insufficient permissions".into()));
    }
    Ok(crate::answers::ok(crate::status::snapshot(&state).await?))
}
