//! Authentication: who is calling.
//!
//! 1. `X-Owner-Password` equal to the owner secret (compared in constant
//!    time) makes the caller the owner. A wrong value is logged and
//!    counted (see [`limiter`]), then falls through.
//! 2. HTTP Basic auth with a numeric user id or an email (case-insensitive)
//!    as the user name, checked against the stored argon2id hash.
//! 3. `Authorization: Bearer` with an access token of a login session
//!    ([`token`], [`session`]) or a personal API token ([`personal`]),
//!    checked against its record read in the request's own round trip. A
//!    read-only personal token gets 403 on anything but GET, HEAD and
//!    OPTIONS.
//! 4. Without an `Authorization` header, the same access token in the
//!    `tm_access` cookie ([`cookie`]); a state-changing request must then
//!    also carry the session's `X-CSRF-Token` (403 otherwise).
//! 5. Anything else is 401 with `WWW-Authenticate: Basic`.
//!
//! * [`password`]: argon2id hashing and verifying, on a bounded pool.
//! * [`cache`]: a shard's remembered verifications, so argon2 runs once per
//!   credential and minute, not once per request.
//! * [`limiter`]: password checks per account are limited
//!   ([`limiter::MAX_ATTEMPTS`] per [`limiter::WINDOW`], counted in Redis
//!   before the check, then 429), and so are wrong owner passwords, per
//!   client address and in all. Unknown users cost the same argon2 work as
//!   known ones, so timing does not reveal which logins exist.
//! * [`resolve`]: credentials to a [`Caller`], reading the caller's record
//!   in the same Redis round trip as the request's own data.
//! * [`token`], [`session`], [`personal`]: bearer token texts, and the
//!   login session and personal token records they are checked against.

pub mod cache;
pub mod cookie;
pub mod limiter;
pub mod password;
pub mod personal;
mod resolve;
pub mod session;
pub mod token;

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use blake2::Digest;
use subtle::ConstantTimeEq;
use taskmaster_shared::domain::{Email, Role, UserId, parse_id};

use crate::error::ApiError;
use crate::server::ClientAddr;
use crate::state::AppState;
use crate::store::{Actor, Counter};
use limiter::{MAX_LOGIN_BYTES, OWNER_MAX_ALL, OWNER_MAX_PER_CLIENT, WINDOW};

pub use cache::Authenticator;
pub use password::{argon2, cpu_bound, hash_password};
pub use resolve::{authenticate_with, remembered, resolve, verify_login};

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None` for the owner header (which has no user record).
    pub id: Option<u64>,
    pub role: Role,
    /// Groups the caller is a member of (sorted).
    pub groups: Vec<u64>,
    /// Groups the caller administers (sorted).
    pub admin_of: Vec<u64>,
    /// Whether `groups` and `admin_of` were read. A request about the
    /// caller's own data authenticates without them (see
    /// [`authenticate_with`]): every rule lets a user act on its own data
    /// before it looks at a relation.
    pub relations: bool,
    /// How the caller proved who it is.
    pub method: Method,
}

/// How a caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    OwnerHeader,
    Basic,
    /// An access token of this login session (in a header, or in the
    /// session cookie).
    Session {
        id: String,
        cookie: bool,
    },
    /// This personal API token.
    Token {
        id: String,
        read_only: bool,
    },
}

impl Method {
    /// Its name in `GET /auth/me`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::OwnerHeader => "owner_header",
            Method::Basic => "basic",
            Method::Session { cookie: false, .. } => "session",
            Method::Session { cookie: true, .. } => "cookie",
            Method::Token { .. } => "token",
        }
    }
}

impl Caller {
    pub fn owner_header() -> Self {
        Caller {
            id: None,
            role: Role::Owner,
            groups: Vec::new(),
            admin_of: Vec::new(),
            relations: true,
            method: Method::OwnerHeader,
        }
    }

    /// Owner by header or a user whose role is `owner`.
    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }

    pub fn is_group_admin(&self) -> bool {
        self.role == Role::GroupAdmin
    }

    pub fn is(&self, user: u64) -> bool {
        self.id == Some(user)
    }

    pub fn administers(&self, group: u64) -> bool {
        debug_assert!(
            self.relations,
            "a caller without relations was asked about one"
        );
        self.admin_of.binary_search(&group).is_ok()
    }

    pub fn member_of(&self, group: u64) -> bool {
        debug_assert!(
            self.relations,
            "a caller without relations was asked about one"
        );
        self.groups.binary_search(&group).is_ok()
    }

    /// The caller as the task scripts judge it.
    pub fn actor(&self) -> Actor {
        match (self.is_owner(), self.id) {
            (false, Some(id)) => Actor::User(UserId(id)),
            _ => Actor::Owner,
        }
    }

    /// Who must administer a group for this caller's change to pass:
    /// nobody for the owner, the caller itself otherwise (the script
    /// checks it again atomically).
    pub fn must_administer(&self) -> Option<UserId> {
        match self.actor() {
            Actor::Owner => None,
            Actor::User(id) => Some(id),
        }
    }
}

/// What an `Authorization` header holds.
enum Authorization {
    None,
    Basic(String, String),
    Bearer(Option<token::Token>),
}

fn authorization(parts: &Parts) -> Authorization {
    let Some(header) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    else {
        return Authorization::None;
    };
    let Some((scheme, value)) = header.trim().split_once(' ') else {
        return Authorization::None;
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        // Access and personal tokens open requests; a refresh token is
        // for `POST /auth/refresh` alone.
        let token = token::Token::parse(value.trim()).filter(|t| t.kind != token::Kind::Refresh);
        return Authorization::Bearer(token);
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Authorization::None;
    }
    let basic = || {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some(Authorization::Basic(user.to_owned(), password.to_owned()))
    };
    basic().unwrap_or(Authorization::None)
}

/// Credentials as sent, parsed without any I/O. Handlers on hot paths take
/// these instead of [`Caller`] and use [`authenticate_with`], which reads
/// the caller's record in the same Redis round trip as the handler's data.
/// `Debug` shows no password.
#[derive(Clone)]
pub enum Credentials {
    /// A correct `X-Owner-Password`.
    Owner,
    Basic {
        /// The login when it is a numeric id.
        id: Option<UserId>,
        /// The case-folded login when it is an email.
        email_key: String,
        password: String,
    },
    /// A well-formed access or personal token (not yet checked against
    /// its record).
    Session(token::Token),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Owner => f.write_str("Owner"),
            Credentials::Basic { id, .. } => f
                .debug_struct("Basic")
                .field("id", id)
                .finish_non_exhaustive(),
            Credentials::Session(token) => f.debug_tuple("Session").field(token).finish(),
        }
    }
}

/// Compares digests, not the texts: comparing slices of different lengths
/// returns at once, which would tell a guesser the secret's length.
fn owner_secret_matches(given: &[u8], secret: &str) -> bool {
    let given = Blake2b256::digest(given);
    let secret = Blake2b256::digest(secret.as_bytes());
    bool::from(given.as_slice().ct_eq(secret.as_slice()))
}

/// The counters of wrong owner passwords from `client`: in all, and from
/// that address. A limit of n wrong values: the n-th one already refuses
/// the next.
fn owner_counters(client: Option<IpAddr>) -> Vec<(Counter, u32)> {
    let mut counters = vec![(Counter::OwnerAll, OWNER_MAX_ALL - 1)];
    if let Some(ip) = client {
        counters.push((Counter::OwnerFrom(ip), OWNER_MAX_PER_CLIENT - 1));
    }
    counters
}

/// Whether `given` is the owner password. Refused with 429 while this
/// client, or everyone, is over the limit of wrong ones, right or wrong,
/// so that guessing stops; a wrong one is logged and counted.
async fn owner_header(
    state: &AppState,
    client: Option<IpAddr>,
    given: &[u8],
) -> Result<bool, ApiError> {
    let guard = &state.services.owner_guard;
    // A refusal this process remembers is checked against the counts in
    // Redis (a round trip only while refused): they may have run out, or
    // an operator may have deleted them to lift the refusal.
    if guard.blocked(client).is_some() {
        let waits = state
            .store
            .over_limit(&owner_counters(client), WINDOW)
            .await?;
        let (all, for_client) = (
            waits.first().copied().flatten(),
            waits.get(1).copied().flatten(),
        );
        guard.forget(client);
        if all.is_some() || for_client.is_some() {
            guard.refuse(client, for_client, all);
            return Err(ApiError::TooManyRequests(
                all.max(for_client).unwrap_or(WINDOW),
            ));
        }
    }
    if owner_secret_matches(given, state.config.owner_password.expose()) {
        return Ok(true);
    }
    tracing::warn!(client = ?client, "wrong X-Owner-Password");
    let waits = state
        .store
        .count_attempt(&owner_counters(client), WINDOW)
        .await?;
    let all = waits.first().copied().flatten();
    let for_client = waits.get(1).copied().flatten();
    if all.is_some() || for_client.is_some() {
        guard.refuse(client, for_client, all);
        tracing::warn!(client = ?client, everyone = all.is_some(), "owner password refused from now on");
        return Err(ApiError::TooManyRequests(
            all.max(for_client).unwrap_or(WINDOW),
        ));
    }
    Ok(false)
}

impl FromRequestParts<AppState> for Credentials {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authorization = authorization(parts);
        let has_other = !matches!(authorization, Authorization::None);
        if let Some(given) = parts.headers.get("x-owner-password") {
            let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
            match owner_header(state, client, given.as_bytes()).await {
                Ok(true) => return Ok(Credentials::Owner),
                Ok(false) => {}
                // A refused owner header is ignored, unchecked, when the
                // request has other credentials to go on; alone, it is 429.
                Err(ApiError::TooManyRequests(_)) if has_other => {}
                Err(e) => return Err(e),
            }
        }
        match authorization {
            Authorization::Basic(login, password) => Credentials::login(&login, password),
            Authorization::Bearer(Some(mut token)) => {
                token.for_write = !parts.method.is_safe();
                Ok(Credentials::Session(token))
            }
            Authorization::Bearer(None) => Err(ApiError::Unauthorized),
            Authorization::None => match cookie::access_token(&parts.headers) {
                Some(token) if cookie::csrf_passes(&parts.method, &parts.headers, &token.id) => {
                    Ok(Credentials::Session(token))
                }
                Some(_) => Err(ApiError::Forbidden(
                    "A request signed in by cookie must send the session's X-CSRF-Token".into(),
                )),
                None => Err(ApiError::Unauthorized),
            },
        }
    }
}

impl Credentials {
    /// A login (a user id or an email) and its password, as Basic auth
    /// and `POST /auth/login` send them.
    pub fn login(login: &str, password: String) -> Result<Credentials, ApiError> {
        // No account has a longer name: refused before any work, so that
        // nothing is hashed, looked up or counted for it.
        if login.len() > MAX_LOGIN_BYTES {
            return Err(ApiError::Unauthorized);
        }
        Ok(match parse_id(login) {
            Some(id) => Credentials::Basic {
                id: Some(UserId(id)),
                email_key: String::new(),
                password,
            },
            None => Credentials::Basic {
                id: None,
                email_key: Email::key_of(login),
                password,
            },
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credentials = Credentials::from_request_parts(parts, state).await?;
        resolve(state, &credentials).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_secret_matches_only_itself_whatever_the_length() {
        assert!(owner_secret_matches(b"s3cret-owner", "s3cret-owner"));
        for wrong in [
            &b""[..],
            b"s",
            b"s3cret-owne",
            b"s3cret-owner!",
            b"S3cret-owner",
        ] {
            assert!(!owner_secret_matches(wrong, "s3cret-owner"));
        }
    }
}
