//! The answer envelope: `{"success": true, "data": …}` (errors are
//! enveloped by [`crate::error`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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
