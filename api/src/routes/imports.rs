//! `POST /users/{id}/tasks/import`: a CSV file of tasks for user `id`
//! (see `crate::import`). Who may import for a user is who may create its
//! tasks: the owner, the user, and an admin of the user's groups, into
//! groups it administers only.
//!
//! The file comes as the body (`text/csv`) or as the `file` field of a
//! `multipart/form-data` form (seed 004's upload). Answers: 200 a dry
//! run's report; 201 the report of an import done while the request
//! waited; 202 with `Location: /jobs/{id}` for one larger than
//! `IMPORT_SYNC_ROWS` rows, running in the background; 400, 413, 415,
//! 422 a file refused; 429 with `Retry-After` while every turn to read
//! an upload is taken; 409 an import refused by a quota or stopped by a
//! change made while it ran (then nothing was kept, in all-or-nothing
//! mode), or one sent again whose job a restore forgot.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use taskmaster_shared::domain::{FieldError, UserId};

use crate::access::visible_user;
use crate::answers::{ImportJob, ImportRefused, accepted, created, ok};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::user_id;
use crate::idempotency::{self, Idempotent};
use crate::import::{self, Importer, Options, Prepared, job, report};
use crate::state::AppState;

/// The `Retry-After` of an upload refused because every turn to read one
/// is taken: a file is read in about a second, so a turn frees within
/// seconds.
const UPLOAD_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    // Read for every caller, the owner too: a user that does not exist is
    // 404, not a file of rows each refused.
    visible_user(&state, &caller, id).await?;
    let options = Options::from_query(&query)?;
    let _turn = state
        .services
        .uploads
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::Busy(
                "Too many imports are being read at once; retry in a few seconds".into(),
                UPLOAD_RETRY,
            )
        })?;
    let file = read_file(&state, &headers, body).await?;
    let principal = idempotency::principal(&caller);
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let idem = Idempotent::of_request(&state, &headers, &principal, "POST", path, &file)?
        .map(|i| (i.record, i.digest));
    let who = Importer {
        user: id,
        admin: if caller.is(id.get()) {
            None
        } else {
            caller.must_administer()
        },
        created_by: match caller.id {
            Some(me) => Some(UserId(me)),
            None => state.store.owner_account().await?,
        },
        creator: principal,
        context: crate::acting::context().to_string(),
    };
    match import::prepare(&state, &who, options, file, idem.as_ref()).await? {
        Prepared::Validated(report) => Ok(ok(report)),
        Prepared::Refused(status, error, report) => Ok(refusal(status, &error, &report)),
        Prepared::Opened {
            id,
            token,
            again,
            rows,
            parsed,
        } => {
            if !again {
                if rows <= state.config.imports.sync_rows {
                    job::drive(&state.store, id, &token, Some(parsed), None).await;
                } else {
                    let (store, permits) = (state.store.clone(), state.services.imports.clone());
                    tokio::spawn(async move {
                        job::drive(&store, id, &token, Some(parsed), Some(permits)).await;
                    });
                }
            }
            let record = state.store.job(id).await?.ok_or_else(import::forgotten)?;
            // A key's record names a job of the same principal; anything
            // else is not this request's job.
            if !report::visible_to(&record, &who.creator, caller.is_owner()) {
                return Err(idempotency::mismatch());
            }
            let mut response = answer(&report::answer(&record));
            if again {
                response.headers_mut().insert(
                    idempotency::REPLAYED.clone(),
                    HeaderValue::from_static("true"),
                );
            }
            Ok(response)
        }
    }
}

/// A job's answer by how it stands: 201 done, 202 still running (with
/// where to follow it), 409 failed or cancelled (nothing kept in
/// all-or-nothing mode).
fn answer(job: &ImportJob) -> Response {
    match job.status {
        "done" => created(job),
        "failed" | "cancelled" => {
            let error = job
                .reason
                .clone()
                .unwrap_or_else(|| format!("The import {}", job.status));
            refusal(StatusCode::CONFLICT, &error, job)
        }
        _ => {
            let mut response = accepted(job);
            if let Some(id) = job.id
                && let Ok(location) = HeaderValue::from_str(&format!("/jobs/{id}"))
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
    }
}

/// An import refused as a whole, with its report.
fn refusal(status: StatusCode, error: &str, report: &ImportJob) -> Response {
    let body = ImportRefused {
        error,
        report,
        success: false,
    };
    (status, axum::Json(body)).into_response()
}

/// The media types a file may come as (a form's field aside).
const CSV_TYPES: [&str; 3] = ["text/csv", "application/csv", "text/plain"];

/// The file: the body itself, or a form's `file` field.
async fn read_file(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let limit = state.config.imports.max_bytes;
    let read = |body: Body| async move {
        body.collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| too_large(&e, limit))
    };
    if CSV_TYPES.contains(&essence.as_str()) {
        return read(body).await;
    }
    if essence == "multipart/form-data" {
        let boundary = multer::parse_boundary(media)
            .map_err(|e| ApiError::BadRequest(format!("Invalid multipart body: {e}")))?;
        let bytes = read(body).await?;
        let chunks = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
        let mut form = multer::Multipart::new(chunks, boundary);
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::BadRequest(format!("Invalid multipart body: {e}")))?
        {
            if field.name() == Some("file") {
                return field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::BadRequest(format!("Invalid multipart body: {e}")));
            }
        }
        return Err(FieldError::new("file", "is required: the form's CSV file").into());
    }
    Err(ApiError::UnsupportedMediaType(
        "Send the file as the body (Content-Type: text/csv) or as the `file` field of multipart/form-data"
            .into(),
    ))
}

/// 413 when the body crossed the limit, else 400.
fn too_large(e: &axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return ApiError::PayloadTooLarge(limit);
        }
        source = s.source();
    }
    ApiError::BadRequest("The request body could not be read".into())
}
