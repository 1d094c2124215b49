//! `/auth/…`: registering, logging in to a session, refreshing and ending
//! it, and `GET /auth/me`.
//!
//! A session (see [`crate::auth::session`]) is opened by a login and its
//! password, checked exactly as Basic auth checks them (same limiter,
//! same remembered verifications). Its access token opens requests as
//! `Authorization: Bearer …` until it expires; its refresh token buys a new
//! pair once (rotation): presenting a refresh token a second time ends the
//! session, since then two parties hold it. Basic auth and the owner header
//! keep working beside sessions, unchanged.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use taskmaster_shared::config::Registration;
use taskmaster_shared::domain::{self, Email, FieldError, Role, UserId};
use utoipa::ToSchema;

use crate::answers::{CookieSession, Me, SessionAnswer, SessionTokens, UserMessage, created, ok};
use crate::auth::cookie;
use crate::auth::session::Session;
use crate::auth::token::{Kind, Token, mint, new_id};
use crate::auth::{Caller, Credentials, Method, hash_password, verify_login};
use crate::clock::{now, now_ms};
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, flag, parse_json};
use crate::ratelimit;
use crate::server::ClientAddr;
use crate::state::AppState;
use crate::store::{NewSession, NewUser, Refusal, Rotated, Rotation};

/// `POST /auth/login`. Field names match in any case.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"login": "ann@example.com", "password": "correct horse"}))]
pub struct Login {
    /// A user id (a number or its digits) or an email, as in Basic auth.
    #[schema(required = true, value_type = String)]
    login: Option<Value>,
    #[schema(required = true)]
    password: Option<String>,
}

/// `POST /auth/refresh`.
#[derive(Deserialize, ToSchema)]
pub struct Refresh {
    /// The refresh token of the last login or refresh.
    #[schema(required = true)]
    refresh_token: Option<String>,
}

/// `POST /auth/register`. Field names match in any case.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "ann@example.com", "password": "correct horse", "full_name": "Ann Lee"}))]
pub struct Register {
    #[schema(required = true, max_length = 254, format = Email)]
    email: Option<String>,
    /// At least `PASSWORD_MIN_LENGTH` characters (6 by default).
    #[schema(required = true, min_length = 1)]
    password: Option<String>,
    #[schema(required = true, min_length = 1, max_length = 255)]
    full_name: Option<String>,
}

/// A field that must be there and not empty (422 naming it otherwise).
fn required<'a>(value: &'a Option<String>, field: &'static str) -> Result<&'a str, FieldError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| FieldError::new(field, "is required"))
}

/// The client's address; every connection has one (see
/// [`crate::server`]), so the unspecified address only stands in for a
/// request built without a connection.
fn client_of(client: Option<Extension<ClientAddr>>) -> IpAddr {
    client.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ClientAddr(ip))| ip)
}

pub async fn register(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    JsonBody(body): JsonBody<Register>,
) -> Result<Response, ApiError> {
    let accounts = &state.config.accounts;
    if accounts.registration == Registration::Off {
        return Err(ApiError::Forbidden(
            "Registration is disabled on this server; ask an administrator for an account".into(),
        ));
    }
    let email = Email::parse(required(&body.email, "email")?)?;
    let full_name = domain::full_name(required(&body.full_name, "full_name")?)?;
    let password = crate::auth::password::acceptable(
        state.config.password_min_length,
        required(&body.password, "password")?,
    )?;
    if !accounts.registration.admits(&email.value) {
        return Err(FieldError::new(
            "email",
            "is not at a domain this server registers accounts for",
        )
        .into());
    }
    // Counted, and a taken email refused, before the password is hashed.
    let meter = ratelimit::auth_meter(&state, client_of(client));
    let (taken, metered) = state.store.email_taken(&email.key, &meter).await?;
    ratelimit::admit(Some(metered))?;
    if taken {
        return Err(refused(Write::CreateUser, Refusal::EmailTaken));
    }
    let groups: Vec<u64> = accounts.registration_group_id.into_iter().collect();
    let hash = hash_password(password).await?;
    let now = now();
    let new = NewUser {
        email: &email,
        full_name: &full_name,
        role: Role::User,
        number: "",
        password_hash: &hash,
        work_times: &Default::default(),
        groups: &groups,
        idempotency: None,
    };
    let id = state
        .store
        .create_user(&new, &now)
        .await?
        .map_err(|r| match r {
            Refusal::GroupNotFound(_) => {
                ApiError::Internal("REGISTRATION_GROUP_ID names a group that does not exist".into())
            }
            r => refused(Write::CreateUser, r),
        })?;
    Ok(created(UserMessage {
        message: "User registered successfully",
        user: new.answered(id, &now),
    }))
}

/// The login as sent: its digits or text (a JSON number is an id).
fn login_text(login: Option<&Value>) -> Result<String, FieldError> {
    match login {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => Ok(n.to_string()),
        Some(Value::Null) | None => Err(FieldError::new("login", "is required")),
        Some(_) => Err(FieldError::new("login", "must be a user id or an email")),
    }
}

pub async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    Query(query): Query<HashMap<String, String>>,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let in_cookies = flag(&query, "cookie")?.unwrap_or(state.config.accounts.session_cookies);
    let login = login_text(body.login.as_ref())?;
    let password = required(&body.password, "password")?.to_owned();
    let credentials = Credentials::login(&login, password)?;
    let (caller, version) = verify_login(&state, &credentials, client_of(client)).await?;
    let Some(id) = caller.id.map(UserId) else {
        return Err(ApiError::Unauthorized);
    };
    let sid = new_id();
    let access = mint(Kind::Access, id, &sid);
    let refresh = mint(Kind::Refresh, id, &sid);
    let accounts = &state.config.accounts;
    let now = now_ms();
    let session = Session {
        user: id,
        version,
        role: caller.role,
        access_until: now + accounts.access_token_ttl.as_millis() as u64,
        access_digest: access.digest,
        previous_until: 0,
        previous_digest: "0".into(),
        refresh_digest: refresh.digest,
    };
    let opened = state
        .store
        .open_session(&NewSession {
            user: id,
            id: &sid,
            version,
            record: &session.to_record(),
            life: accounts.refresh_token_ttl,
            now_ms: now,
        })
        .await?;
    // The password or role changed between the check and now: the
    // client logs in again with what is current.
    if !opened {
        return Err(ApiError::Unauthorized);
    }
    let issued = Issued {
        user: id,
        sid: &sid,
        access: access.text,
        refresh: refresh.text,
        in_cookies,
    };
    issued.answer(&state).await
}

/// A session's new tokens, and how they go back.
struct Issued<'a> {
    user: UserId,
    sid: &'a str,
    access: String,
    refresh: String,
    in_cookies: bool,
}

impl Issued<'_> {
    /// The answer to a login or refresh: the tokens in the body, or in
    /// cookies with the CSRF token in the body.
    async fn answer(self, state: &AppState) -> Result<Response, ApiError> {
        let user = state
            .store
            .user(self.user)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let accounts = &state.config.accounts;
        let (expires_in, refresh_expires_in) = (
            accounts.access_token_ttl.as_secs(),
            accounts.refresh_token_ttl.as_secs(),
        );
        if !self.in_cookies {
            return Ok(ok(SessionAnswer::Tokens(SessionTokens {
                access_token: self.access,
                expires_in,
                refresh_expires_in,
                refresh_token: self.refresh,
                token_type: "Bearer",
                user,
            })));
        }
        let mut response = ok(SessionAnswer::Cookies(CookieSession {
            csrf_token: cookie::csrf_of(self.sid),
            expires_in,
            refresh_expires_in,
            token_type: "cookie",
            user,
        }));
        cookie::Jar {
            access: &self.access,
            refresh: &self.refresh,
            sid: self.sid,
            access_secs: expires_in,
            refresh_secs: refresh_expires_in,
            secure: accounts.cookie_secure,
        }
        .set(response.headers_mut());
        Ok(response)
    }
}

/// `POST /auth/refresh`: the refresh token of the body, or, without a
/// body, of the session cookie (then with the session's `X-CSRF-Token`,
/// and the new tokens go back as cookies).
pub async fn refresh(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = if body.iter().all(u8::is_ascii_whitespace)
        && let Some(token) = cookie::refresh_token(&headers)
    {
        if !cookie::csrf_matches(&headers, &token.id) {
            return Err(ApiError::Forbidden(
                "A refresh by cookie must send the session's X-CSRF-Token".into(),
            ));
        }
        token
    } else {
        let body: Refresh = parse_json(&body)?;
        let text = required(&body.refresh_token, "refresh_token")?;
        Token::parse(text)
            .filter(|t| t.kind == Kind::Refresh)
            .ok_or(ApiError::Unauthorized)?
    };
    let access = mint(Kind::Access, token.user, &token.id);
    let refresh = mint(Kind::Refresh, token.user, &token.id);
    let presented = token.digest();
    let accounts = &state.config.accounts;
    let now = now_ms();
    let (rotated, metered) = state
        .store
        .rotate_session(&Rotation {
            user: token.user,
            id: &token.id,
            presented: &presented,
            now_ms: now,
            access_until: now + accounts.access_token_ttl.as_millis() as u64,
            access_digest: &access.digest,
            refresh_digest: &refresh.digest,
            life: accounts.refresh_token_ttl,
            meter: ratelimit::auth_meter(&state, client_of(client)),
        })
        .await?;
    ratelimit::admit(Some(metered))?;
    match rotated {
        Rotated::Done => {
            let issued = Issued {
                user: token.user,
                sid: &token.id,
                access: access.text,
                refresh: refresh.text,
                in_cookies: token.in_cookie,
            };
            issued.answer(&state).await
        }
        Rotated::Reused => {
            tracing::warn!(
                user = token.user.get(),
                "a refresh token was presented again; its session is ended"
            );
            Err(ApiError::Unauthorized)
        }
        Rotated::NoSession | Rotated::Stale | Rotated::Limited => Err(ApiError::Unauthorized),
    }
}

/// `POST /auth/logout`: ends the session of the access token the request
/// carries; `?all=true` ends every session of the caller, however it
/// authenticated.
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let all = flag(&query, "all")?.unwrap_or(false);
    let Some(id) = caller.id.map(UserId) else {
        return Err(ApiError::BadRequest(
            "The owner header has no sessions to end".into(),
        ));
    };
    let session = match (&caller.method, all) {
        (_, true) => None,
        (Method::Session { id, .. }, false) => Some(id.as_str()),
        (_, false) => {
            return Err(ApiError::BadRequest(
                "This request carries no session token; use ?all=true to end every session".into(),
            ));
        }
    };
    state.store.end_sessions(id, session).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Method::Session { cookie: true, .. } = caller.method {
        cookie::clear(response.headers_mut(), state.config.accounts.cookie_secure);
    }
    Ok(response)
}

pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = match caller.id {
        Some(id) => Some(
            state
                .store
                .user(UserId(id))
                .await?
                .ok_or(ApiError::Unauthorized)?,
        ),
        None => None,
    };
    Ok(ok(Me {
        admin_of: caller.admin_of.clone(),
        method: caller.method.name(),
        role: caller.role,
        user,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_a_text_or_a_positive_id() {
        use serde_json::json;
        assert_eq!(
            login_text(Some(&json!("ann@example.com"))).ok(),
            Some("ann@example.com".into())
        );
        assert_eq!(login_text(Some(&json!(12))).ok(), Some("12".into()));
        for bad in [
            json!(""),
            json!(0),
            json!(-3),
            json!(1.5),
            json!(null),
            json!([1]),
            json!({}),
        ] {
            let e = login_text(Some(&bad)).expect_err("refused");
            assert_eq!(e.field, "login", "{bad}");
        }
        assert!(login_text(None).is_err());
    }
}
