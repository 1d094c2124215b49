//! Rate limits: every authenticated request counts against its principal
//! (a user, however it authenticated, or the owner header) at
//! `RATE_LIMIT_PER_MINUTE` with bursts of `RATE_LIMIT_BURST`; the account
//! endpoints (`/auth/login`, `/auth/register`, `/auth/refresh`) count
//! against the client address at the stricter `RATE_LIMIT_AUTH_*` rate.
//!
//! The counts live in Redis (GCRA, see `store/lua/gcra.lua`), so a limit
//! holds across shards and instances. A count rides in the round trip the
//! request makes anyway: a command in front of the authentication's read,
//! or a step inside the script of a request whose first act is a write
//! (a create of one's own task, a refresh). Only the owner header, which
//! reads nothing before it acts on most routes, pays a round trip for its
//! count. Requests without credentials elsewhere cost no Redis work and
//! are not counted: a wrong one is 401 at once.
//!
//! The outcome of the request's count is kept in a task-local slot that
//! the edge ([`crate::middleware`]) opens per request and turns into the
//! `RateLimit-*` and `X-RateLimit-*` headers of the answer.

use std::cell::Cell;
use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use taskmaster_shared::domain::UserId;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Meter, Metered, Principal};

tokio::task_local! {
    static COUNTED: Cell<Option<Metered>>;
}

/// Runs a request's future with a slot for its count; returns its output
/// and the count.
pub async fn scope<F: std::future::Future>(future: F) -> (F::Output, Option<Metered>) {
    COUNTED
        .scope(Cell::new(None), async {
            let output = future.await;
            (output, COUNTED.with(Cell::get))
        })
        .await
}

/// The meter of a principal's request, `None` while limits are off.
pub fn meter(state: &AppState, principal: Principal) -> Option<Meter> {
    state
        .config
        .accounts
        .rate
        .map(|rate| Meter { principal, rate })
}

/// The meter of an account endpoint's request from `client` (always on).
pub fn auth_meter(state: &AppState, client: IpAddr) -> Meter {
    Meter {
        principal: Principal::AuthClient(client),
        rate: state.config.accounts.auth_rate,
    }
}

/// The meter of a user's request (see [`meter`]).
pub fn user_meter(state: &AppState, user: UserId) -> Option<Meter> {
    meter(state, Principal::User(user))
}

/// Keeps a count for the answer's headers; a refused one is 429.
pub fn admit(metered: Option<Metered>) -> Result<(), ApiError> {
    let Some(m) = metered else {
        return Ok(());
    };
    // Outside a request (a test calling a handler directly) there is no
    // slot, and no headers to give.
    let _ = COUNTED.try_with(|slot| slot.set(Some(m)));
    if m.allowed {
        Ok(())
    } else {
        Err(ApiError::RateLimited(Duration::from_millis(m.retry_ms)))
    }
}

/// The count's headers: the IETF draft's `RateLimit-Limit` (the burst),
/// `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the burst is
/// whole) and `RateLimit-Policy`, with the `X-RateLimit-*` spellings many
/// clients read.
pub fn headers(m: &Metered, headers: &mut HeaderMap) {
    let reset = m.reset_ms.div_ceil(1_000);
    let window = (u64::from(m.rate.burst) * 60).div_ceil(u64::from(m.rate.per_minute.max(1)));
    let values = [
        ("ratelimit-limit", m.limit.to_string()),
        ("ratelimit-remaining", m.remaining.to_string()),
        ("ratelimit-reset", reset.to_string()),
        ("ratelimit-policy", format!("{};w={window}", m.limit)),
        ("x-ratelimit-limit", m.limit.to_string()),
        ("x-ratelimit-remaining", m.remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ];
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}
