//! `/auth/tokens`: personal API tokens, for scripts and integrations.
//!
//! A token opens requests as `Authorization: Bearer tmk_…` with exactly the
//! permissions of its user, until it expires or is revoked; a read-only
//! one only reads (403 otherwise). Its text is shown once, at creation;
//! Redis and PostgreSQL keep only a digest of its secret (see
//! [`crate::auth::token`]). Tokens are durable: written behind with their
//! user, in backups, back after a restore. A password or role change
//! revokes all of the user's tokens; a deactivation suspends them.
//!
//! Tokens are made with a password or a login session, never with another
//! token: a leaked token must not be able to mint a longer-lived one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use taskmaster_shared::api_token::{self, TokenRecord};
use taskmaster_shared::domain::{FieldError, UserId};
use taskmaster_shared::time::rfc3339;
use utoipa::ToSchema;

use crate::answers::{ApiToken, ApiTokenCreated, ApiTokenList, created, ok};
use crate::auth::token::{Kind, mint, new_id};
use crate::auth::{Caller, Method};
use crate::clock::{now, now_ms};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store::{MAX_TOKENS_PER_USER, Refusal};

/// Longest life a token may be given: ten years.
pub const MAX_EXPIRES_IN_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// `POST /auth/tokens`. Field names match in any case.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "nightly report", "read_only": true, "expires_in": 7776000}))]
pub struct CreateToken {
    /// What it is for (1–100 characters, shown in the list).
    #[schema(required = true, min_length = 1, max_length = 100)]
    name: Option<String>,
    /// Only GET, HEAD and OPTIONS (default `false`).
    read_only: Option<bool>,
    /// Seconds until it expires (1 to ten years); absent or `null`: never.
    #[schema(minimum = 1, maximum = 315_360_000)]
    expires_in: Option<i64>,
}

fn at(ms: u64) -> String {
    rfc3339(chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default())
}

/// A token as answered.
fn answered(id: String, r: &TokenRecord, now_ms: u64) -> ApiToken {
    ApiToken {
        created_at: at(r.created_ms),
        expired: r.expired(now_ms),
        expires_at: r.expires_ms.map(at),
        id,
        last_used_at: r.last_used_ms.map(at),
        name: r.name.clone(),
        read_only: r.read_only,
    }
}

/// The caller's account: the owner header has none, so no tokens.
fn account(caller: &Caller) -> Result<UserId, ApiError> {
    caller.id.map(UserId).ok_or_else(|| {
        ApiError::BadRequest(
            "The owner header has no account to hold tokens; sign in as the owner account".into(),
        )
    })
}

fn expires_in(raw: Option<i64>) -> Result<Option<u64>, FieldError> {
    match raw {
        None => Ok(None),
        Some(s) if (1..=MAX_EXPIRES_IN_SECONDS).contains(&s) => Ok(Some(s as u64)),
        Some(_) => Err(FieldError::new(
            "expires_in",
            format!("must be between 1 and {MAX_EXPIRES_IN_SECONDS} seconds"),
        )),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = account(&caller)?;
    let now = now_ms();
    let mut found = state.store.tokens(user).await?;
    found.sort_by(|a, b| (b.1.created_ms, &b.0).cmp(&(a.1.created_ms, &a.0)));
    let tokens: Vec<ApiToken> = found
        .into_iter()
        .map(|(id, record)| answered(id, &record, now))
        .collect();
    Ok(ok(ApiTokenList {
        count: tokens.len(),
        tokens,
    }))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<Response, ApiError> {
    let user = account(&caller)?;
    if let Method::Token { .. } = caller.method {
        return Err(ApiError::Forbidden(
            "API tokens are made with a password or a login session, not with another token".into(),
        ));
    }
    let name = api_token::name(body.name.as_deref().unwrap_or(""))?;
    let life = expires_in(body.expires_in)?;
    let now_ms = now_ms();
    let id = new_id();
    let minted = mint(Kind::Personal, user, &id);
    let record = TokenRecord {
        user: user.get(),
        role: caller.role,
        read_only: body.read_only.unwrap_or(false),
        expires_ms: life.map(|s| now_ms + s * 1000),
        digest: minted.digest,
        created_ms: now_ms,
        last_used_ms: None,
        name,
    };
    match state.store.create_token(&id, &record, &now()).await? {
        Ok(()) => {}
        Err(Refusal::TooMany) => {
            return Err(ApiError::Conflict(format!(
                "A user holds at most {MAX_TOKENS_PER_USER} API tokens; revoke one first"
            )));
        }
        // Deactivated, deleted, or its role changed since this request
        // authenticated: its credentials no longer hold.
        Err(_) => return Err(ApiError::Unauthorized),
    }
    tracing::info!(user = user.get(), token = %id, "API token created");
    Ok(created(ApiTokenCreated {
        api_token: answered(id, &record, now_ms),
        message: "API token created; copy it now, it is not shown again",
        token: minted.text,
    }))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = account(&caller)?;
    let not_found = || ApiError::NotFound("API token not found".into());
    // Only ids that could exist reach Redis.
    if id.len() != 22
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(not_found());
    }
    match state.store.delete_token(user, &id, &now()).await? {
        Ok(()) => {
            tracing::info!(user = user.get(), token = %id, "API token revoked");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(_) => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_life_is_between_a_second_and_ten_years() {
        assert_eq!(expires_in(None).ok(), Some(None));
        assert_eq!(expires_in(Some(1)).ok(), Some(Some(1)));
        assert_eq!(
            expires_in(Some(MAX_EXPIRES_IN_SECONDS)).ok(),
            Some(Some(MAX_EXPIRES_IN_SECONDS as u64))
        );
        for bad in [0, -1, MAX_EXPIRES_IN_SECONDS + 1, i64::MIN] {
            assert_eq!(
                expires_in(Some(bad)).expect_err("refused").field,
                "expires_in"
            );
        }
    }
}
