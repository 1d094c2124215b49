//! `Idempotency-Key` on creates: a client that retries a create it never
//! saw answered (a timeout, a dropped connection) sends the same key, and
//! gets the first answer again instead of a second row.
//!
//! * The key is the client's own text (1 to 255 visible ASCII
//!   characters), scoped to the principal that sends it (`owner` or the
//!   user's id), kept 24 hours (`P idem:…`, see `shared/src/keys/mod.rs`).
//! * The create script records the key with the row it makes, in the step
//!   that makes it; a retry finds the record in its own step, so however
//!   the retries race, one row is made.
//! * The same key with another request (method, path or body) is 422.
//! * A retry is answered as the first was, with `Idempotent-Replayed:
//!   true`: the first answer, stored just after it was made, or, when the
//!   api stopped before storing it, the row's answer as it is now.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blake2::Digest;
use taskmaster_shared::domain::FieldError;
use taskmaster_shared::hex::hex;

use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a retry's answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Longest key accepted.
const MAX_KEY: usize = 255;

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

/// One create made under a key: its record's Redis key and the request's
/// digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotent {
    pub record: String,
    pub digest: String,
}

impl Idempotent {
    /// The request's key, if it sent one (422 for a key that is not 1 to
    /// 255 visible ASCII characters): its record under `principal`, and
    /// the digest of `method path` and `body`.
    pub fn of_request(
        state: &AppState,
        headers: &HeaderMap,
        principal: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Option<Idempotent>, ApiError> {
        let Some(value) = headers.get(&HEADER) else {
            return Ok(None);
        };
        let key = value.as_bytes();
        if key.is_empty() || key.len() > MAX_KEY || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(FieldError::new(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY} visible ASCII characters"),
            )
            .into());
        }
        let key_digest = hex(&Blake2b256::digest(key));
        let mut request = Blake2b256::new();
        request.update(method.as_bytes());
        request.update(b" ");
        request.update(path.as_bytes());
        request.update(b"\n");
        request.update(body);
        Ok(Some(Idempotent {
            record: state.store.idempotency_record(principal, &key_digest),
            digest: hex(&request.finalize()),
        }))
    }

    /// Keeps the first answer for the key's retries (best effort: a retry
    /// without it is answered from the row).
    pub async fn remember(&self, state: &AppState, body: &[u8]) {
        if let Err(e) = state.store.remember_answer(&self.record, body).await {
            tracing::warn!(error = %e, "cannot keep an idempotent create's answer");
        }
    }

    /// The answer to a retry: the first answer when it was kept, else
    /// `rebuilt` (the row's answer now); 409 when neither exists (the row
    /// was deleted since).
    pub async fn replay(
        &self,
        state: &AppState,
        rebuilt: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        let body = match state.store.kept_answer(&self.record).await? {
            Some(body) => body,
            None => rebuilt.ok_or_else(|| {
                ApiError::Conflict(
                    "This Idempotency-Key made a row that has been deleted since".into(),
                )
            })?,
        };
        Ok((
            StatusCode::CREATED,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (REPLAYED, HeaderValue::from_static("true")),
            ],
            body,
        )
            .into_response())
    }
}

/// Whose keys a caller's are: `owner` for the owner header, else the
/// user's id (a user's keys are the same however it signs in).
pub fn principal(caller: &crate::auth::Caller) -> String {
    caller
        .id
        .map_or_else(|| "owner".to_owned(), |id| id.to_string())
}

/// 422 for a key used with another request.
pub fn mismatch() -> ApiError {
    FieldError::new(
        "Idempotency-Key",
        "was used with another request in the last 24 hours: use a new key",
    )
    .into()
}
