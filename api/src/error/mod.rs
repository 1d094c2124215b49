//! The one mapping from errors to HTTP answers.
//!
//! Every error leaves as `{"success": false, "error": "<message>"}` with the
//! right status. Server-side failures (5xx) are logged once, here, and
//! their bodies say nothing about the cause.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use taskmaster_shared::domain::FieldError;

use crate::store::StoreError;

mod refusal;

pub use refusal::{Write, refused};

/// An error a handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, wrong types, bad path id).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or wrong credentials.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 409: a uniqueness rule or the current state forbids the change.
    #[error("{0}")]
    Conflict(String),
    /// 410: a position the change log no longer holds.
    #[error("{0}")]
    Gone(String),
    /// 412: `If-Match` names a tag the row no longer has.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: over the limit of its path, in bytes.
    #[error("Request body too large (the limit is {})", size_text(*.0))]
    PayloadTooLarge(usize),
    /// 429: too many failed logins; retry after the given time.
    #[error("Too many failed login attempts; retry later")]
    TooManyRequests(std::time::Duration),
    /// 429: over the rate limit; retry after the given time.
    #[error("Rate limit exceeded; retry later")]
    RateLimited(std::time::Duration),
    /// 429: the caller holds as many of something as it may at once (live
    /// feed connections, running imports, uploads being read).
    #[error("{0}")]
    TooMany(String),
    /// 429 with `Retry-After`: a turn shared by every caller is briefly
    /// taken (uploads being read); unlike [`ApiError::TooMany`] it frees
    /// itself within seconds, whatever the caller does.
    #[error("{0}")]
    Busy(String, std::time::Duration),
    /// 415: a body of a media type the path does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid.
    #[error("{0}")]
    Unprocessable(String),
    /// 503: a dependency is unavailable; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: a restore is running.
    #[error("Maintenance in progress (a restore is running); retry shortly")]
    Maintenance,
    /// A batch refused as a whole: every reason is listed.
    #[error("{message}")]
    Batch {
        status: StatusCode,
        message: String,
        errors: Vec<String>,
    },
    /// 501: part of the protocol, not implemented yet.
    #[error("{0}")]
    NotImplemented(String),
    /// 502: a daemon behind the api failed the request.
    #[error("{0}")]
    BadGateway(String),
    /// 504: a daemon behind the api did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
    /// 500: a bug or an unexpected failure. The source is logged, not shown.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A size limit as a person reads it: `1 MiB`, or `1536 bytes`.
fn size_text(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests(_)
            | ApiError::RateLimited(_)
            | ApiError::TooMany(_)
            | ApiError::Busy(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Maintenance => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Batch { status, .. } => *status,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

/// Redis error codes that mean "not now" rather than "this request is
/// wrong": the server is loading its data after a restart, running a script
/// past its time limit, out of memory (`maxmemory` with `noeviction`: no
/// write was made), or a replica. A client gets 503 and may retry; the log
/// names the code for the operator.
const REDIS_NOT_NOW: &[&str] = &[
    "LOADING",
    "BUSY",
    "OOM",
    "READONLY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "NOREPLICAS",
    "MISCONF",
];

/// Whether Redis answered one of [`REDIS_NOT_NOW`], to a command or to any
/// command of a pipeline.
fn redis_not_now(e: &redis::RedisError) -> bool {
    // A clone is two reference counts: the server errors sit in an `Arc`.
    e.clone().into_server_errors().is_some_and(|errors| {
        errors
            .iter()
            .any(|(_, error)| REDIS_NOT_NOW.contains(&error.code()))
    })
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let unavailable = match &e {
            StoreError::Redis(r) => {
                r.is_io_error()
                    || r.is_connection_dropped()
                    || r.is_timeout()
                    || r.is_connection_refusal()
                    || redis_not_now(r)
            }
            StoreError::PoolTimeout => true,
            StoreError::Malformed(_) => false,
            StoreError::Maintenance => return ApiError::Maintenance,
            StoreError::OrderBuilding | StoreError::SortBuilding => {
                return ApiError::Unavailable(
                    "This list's index in the order asked for is being built; retry in a few seconds"
                        .into(),
                );
            }
            StoreError::IdsUnchecked => {
                tracing::warn!(error = %e, "write refused");
                return ApiError::Unavailable(
                    "Storage restarted; writes wait for the write-behind daemon's check; retry shortly"
                        .into(),
                );
            }
        };
        if unavailable {
            tracing::warn!(error = %e, "redis unavailable");
            ApiError::Unavailable("Storage temporarily unavailable; retry shortly".into())
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Unprocessable(e.to_string())
    }
}

/// The error envelope.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"success": false, "error": "title: must be at most 255 characters (got 300)"}))]
pub struct ErrorBody<'a> {
    pub success: bool,
    pub error: &'a str,
}

/// A batch refused as a whole: the envelope with every reason listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchErrorBody<'a> {
    pub error: &'a str,
    pub error_count: usize,
    pub errors: &'a [String],
    pub success: bool,
}

/// Builds an error answer with the JSON envelope.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    let mut response = (
        status,
        Json(ErrorBody {
            success: false,
            error: message,
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"taskmaster\""),
        );
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                error_response(status, "Internal server error")
            }
            ApiError::Unavailable(message) => {
                let mut response = error_response(status, message);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            ApiError::Maintenance => {
                let mut response = error_response(status, &self.to_string());
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(taskmaster_shared::control::MAINTENANCE_RETRY_AFTER_SECS),
                );
                response
            }
            ApiError::TooManyRequests(wait)
            | ApiError::RateLimited(wait)
            | ApiError::Busy(_, wait) => {
                let mut response = error_response(status, &self.to_string());
                let secs = wait.as_millis().div_ceil(1_000).max(1).to_string();
                if let Ok(v) = HeaderValue::from_str(&secs) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                response
            }
            ApiError::Batch {
                message, errors, ..
            } => (
                status,
                Json(BatchErrorBody {
                    error: message,
                    error_count: errors.len(),
                    errors,
                    success: false,
                }),
            )
                .into_response(),
            _ => error_response(status, &self.to_string()),
        }
    }
}

/// The message for an error answer that arrived without a JSON body (from
/// hyper or axum's own rejections, or the edge's time limit).
pub fn canonical_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large (the limit is 1 MiB)",
        StatusCode::REQUEST_TIMEOUT
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => "Request timed out",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type",
        s if s.is_server_error() => "Internal server error",
        _ => "Bad request",
    }
}
