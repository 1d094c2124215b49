//! Turning [`Credentials`] into a [`Caller`], with as few Redis round
//! trips as the request allows.

use std::time::Duration;

use taskmaster_shared::domain::{Role, UserId};

use super::cache::Checked;
use super::limiter::{MAX_ATTEMPTS, WINDOW, login_digest};
use super::personal;
use super::session::admitted;
use super::token::{Kind, Token};
use super::{Caller, Credentials, Method};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::ratelimit;
use crate::state::AppState;
use crate::store::{AuthRecord, Counter, Meter, Nothing, Prefetch, Principal};

/// Authenticates and reads `prefetch`'s data in the same round trip;
/// returns the caller and that data. The data is read before the caller is
/// known, so handlers must check permissions before answering with it.
///
/// `about` is the user whose data the request is about. When that is the
/// caller itself, and its password was verified against its current
/// credential version moments ago, the round trip reads only that version
/// ([`Store::version_with`](crate::store::Store::version_with)): the
/// groups are not needed (the caller gets none, marked by
/// [`Caller::relations`]); the password hash and the role are not needed
/// either, because any change of password, role or existence changes the
/// version, and the role it was verified with is remembered with it.
pub async fn authenticate_with<P: Prefetch>(
    state: &AppState,
    credentials: &Credentials,
    about: Option<UserId>,
    prefetch: &P,
) -> Result<(Caller, P::Output), ApiError> {
    if let Credentials::Session(token) = credentials {
        let (caller, data) = by_session(state, token, about, prefetch).await?;
        crate::acting::record(&caller);
        return Ok((caller, data));
    }
    if let Some((id, verified)) = remembered_self(state, credentials, about) {
        let meter = ratelimit::meter(state, Principal::User(id));
        let (version, data, metered) = state
            .store
            .version_with(id, prefetch, meter.as_ref())
            .await?;
        ratelimit::admit(metered)?;
        let caller = still_current(state, credentials, id, verified, version).await?;
        crate::acting::record(&caller);
        return Ok((caller, data));
    }
    // An email login is counted once its id is found (see `verify_basic`).
    let (prefetch_id, principal) = match credentials {
        Credentials::Basic { id: Some(id), .. } => (Some(*id), Some(Principal::User(*id))),
        Credentials::Owner => (None, Some(Principal::Owner)),
        _ => (None, None),
    };
    let meter = principal.and_then(|p| ratelimit::meter(state, p));
    let (record, data, metered) = state
        .store
        .auth_with(prefetch_id, prefetch, meter.as_ref())
        .await?;
    ratelimit::admit(metered)?;
    let caller = match credentials {
        Credentials::Owner => Caller::owner_header(),
        _ => {
            let count = if principal.is_none() {
                Count::User
            } else {
                Count::Done
            };
            verify_basic(state, credentials, record, count).await?.0
        }
    };
    crate::acting::record(&caller);
    Ok((caller, data))
}

/// The caller of an access or personal token, and `prefetch`'s data, in
/// one round trip (which also counts the request). About the caller's own
/// data, the round trip reads only the user's credential version and the
/// token's record beside the data (one `MGET`), and the caller gets its
/// role from the record (a role change ends the user's sessions and
/// deletes its tokens); otherwise it reads the whole auth record with the
/// token's.
async fn by_session<P: Prefetch>(
    state: &AppState,
    token: &Token,
    about: Option<UserId>,
    prefetch: &P,
) -> Result<(Caller, P::Output), ApiError> {
    let meter = ratelimit::meter(state, token.principal());
    let now = now_ms();
    if about == Some(token.user) {
        let read = state
            .store
            .session_with(token.user, token.record_key(), prefetch, meter.as_ref())
            .await?;
        ratelimit::admit(read.metered)?;
        let (role, method) = admit_token(state, token, read.session.as_deref(), read.who, now)?;
        let caller = Caller {
            id: Some(token.user.get()),
            role,
            groups: Vec::new(),
            admin_of: Vec::new(),
            relations: false,
            method,
        };
        return Ok((caller, read.data));
    }
    let read = state
        .store
        .session_record_with(token.user, token.record_key(), prefetch, meter.as_ref())
        .await?;
    ratelimit::admit(read.metered)?;
    let auth = read
        .who
        .filter(|a| a.active)
        .ok_or(ApiError::Unauthorized)?;
    let version = Some(auth.credential_version);
    let (_, method) = admit_token(state, token, read.session.as_deref(), version, now)?;
    let caller = Caller {
        id: Some(auth.id),
        role: auth.role,
        groups: auth.groups,
        admin_of: auth.admin_of,
        relations: true,
        method,
    };
    Ok((caller, read.data))
}

/// Checks `token` against its stored `record` (`None`: there is none),
/// given its user's credential `version` when the read included it (a
/// session's own-data read does not; a personal token's always does, and
/// `None` then means no active user): the role it acts with and how it
/// authenticated. A read-only personal token is refused a write (403: the
/// token is good, the scope is not); a personal token's use is marked, at
/// most once a minute, in the background.
fn admit_token(
    state: &AppState,
    token: &Token,
    record: Option<&str>,
    version: Option<u64>,
    now: u64,
) -> Result<(Role, Method), ApiError> {
    let record = record.ok_or(ApiError::Unauthorized)?;
    if token.kind != Kind::Personal {
        let (role, opened_under) = admitted(record, token, now).ok_or(ApiError::Unauthorized)?;
        // A session that still exists is current (whatever ends one
        // deletes it); where the version was read anyway, it must agree.
        if version.is_some_and(|v| v != opened_under) {
            return Err(ApiError::Unauthorized);
        }
        let method = Method::Session {
            id: token.id.clone(),
            cookie: token.in_cookie,
        };
        return Ok((role, method));
    }
    let admitted = personal::admitted(record, token, version, now).ok_or(ApiError::Unauthorized)?;
    if admitted.read_only && token.for_write {
        return Err(ApiError::Forbidden(
            "This API token is read-only; a change needs a token without the read-only scope"
                .into(),
        ));
    }
    if admitted.mark_used {
        mark_used(state, token.user, &token.id, now);
    }
    let method = Method::Token {
        id: token.id.clone(),
        read_only: admitted.read_only,
    };
    Ok((admitted.role, method))
}

/// Records a personal token's use, off the request's path: a lost mark
/// only makes `last_used_at` a minute older.
fn mark_used(state: &AppState, user: UserId, id: &str, now_ms: u64) {
    let state = state.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        let now = crate::clock::now();
        let gap = personal::LAST_USED_GAP_MS;
        if let Err(e) = state.store.touch_token(user, &id, &now, now_ms, gap).await {
            tracing::debug!(error = %e, "marking a token used failed");
        }
    });
}

/// The caller's id and what is remembered of its credential, when the
/// request is about the caller's own data (`about`) and its credential was
/// verified moments ago.
fn remembered_self(
    state: &AppState,
    credentials: &Credentials,
    about: Option<UserId>,
) -> Option<(UserId, (u64, Role))> {
    let Credentials::Basic {
        id: Some(id),
        password,
        ..
    } = credentials
    else {
        return None;
    };
    if about != Some(*id) {
        return None;
    }
    Some((*id, remembered(state, *id, password)?))
}

/// The caller of a remembered credential, if `version` (the user's
/// credential version, read just now) is still the one it was verified
/// against; otherwise (changed or gone since) the ordinary way, which reads
/// the whole record and verifies again.
async fn still_current(
    state: &AppState,
    credentials: &Credentials,
    id: UserId,
    (verified, role): (u64, Role),
    version: Option<u64>,
) -> Result<Caller, ApiError> {
    if version == Some(verified) {
        return Ok(Caller {
            id: Some(id.get()),
            role,
            groups: Vec::new(),
            admin_of: Vec::new(),
            relations: false,
            method: Method::Basic,
        });
    }
    // Counted already, in the round trip that read the version.
    Ok(verify_basic(state, credentials, None, Count::Done).await?.0)
}

/// The credential version user `id`'s `password` was verified against
/// moments ago, with the role it had; starts its background
/// re-verification when that is due. A write may proceed on the version
/// only if it checks, in the same atomic step, that the user still has it.
pub fn remembered(state: &AppState, id: UserId, password: &str) -> Option<(u64, Role)> {
    let verified = state.auth.verified(id.get(), password)?;
    if verified.refresh_due {
        refresh(state, id, password, verified.version);
    }
    Some((verified.version, verified.role))
}

/// Verifies user `id`'s `password` again, in the background, against the
/// stored hash, while `version` is still the user's credential version;
/// remembers it afresh on success. A password that no longer matches, or a
/// changed version, is forgotten, so the next request takes the full way.
/// When Redis fails, the remembered check simply runs out at its TTL.
fn refresh(state: &AppState, id: UserId, password: &str, version: u64) {
    let state = state.clone();
    let password = password.to_owned();
    tokio::spawn(async move {
        let raw = id.get();
        let record = match state.store.auth_record(Some(id), "", &|_| None).await {
            Ok((Some(record), _)) if record.credential_version == version => record,
            Ok(_) => return state.auth.settle_refresh(raw, &password, version, false),
            Err(e) => {
                tracing::debug!(error = %e, "credential refresh: redis failed");
                return;
            }
        };
        let still_valid = state
            .auth
            .verify(&password, Some(&record.password_hash))
            .await;
        state
            .auth
            .settle_refresh(raw, &password, version, still_valid);
    });
}

/// Counts one login attempt on `counter`; how long it must wait when it
/// is over the limit.
async fn count_attempt(state: &AppState, counter: Counter) -> Result<Option<Duration>, ApiError> {
    let waits = state
        .store
        .count_attempt(&[(counter, MAX_ATTEMPTS)], WINDOW)
        .await?;
    Ok(waits.into_iter().flatten().next())
}

/// Turns credentials into a caller, counting the request against its
/// principal. The owner header reads nothing else first, so its count is
/// a round trip of its own; the others ride in the authentication's read.
pub async fn resolve(state: &AppState, credentials: &Credentials) -> Result<Caller, ApiError> {
    let caller = resolve_unrecorded(state, credentials).await?;
    crate::acting::record(&caller);
    Ok(caller)
}

async fn resolve_unrecorded(
    state: &AppState,
    credentials: &Credentials,
) -> Result<Caller, ApiError> {
    match credentials {
        Credentials::Owner => {
            if let Some(meter) = ratelimit::meter(state, Principal::Owner) {
                ratelimit::admit(Some(state.store.meter(&meter).await?))?;
            }
            Ok(Caller::owner_header())
        }
        Credentials::Session(token) => Ok(by_session(state, token, None, &Nothing).await?.0),
        Credentials::Basic { .. } => {
            Ok(verify_basic(state, credentials, None, Count::User).await?.0)
        }
    }
}

/// Checks a login and password (as sent with Basic auth, or to
/// `POST /auth/login`): the caller, and the credential version its
/// password was checked against (a session opened on it must see that
/// version still current). The owner header and tokens are not logins.
/// The attempt counts against `client` at the account endpoints' rate, in
/// the round trip that reads the account.
pub async fn verify_login(
    state: &AppState,
    credentials: &Credentials,
    client: std::net::IpAddr,
) -> Result<(Caller, u64), ApiError> {
    let count = Count::Fixed(ratelimit::auth_meter(state, client));
    verify_basic(state, credentials, None, count).await
}

/// What a password check counts, in the round trip that reads the account.
enum Count {
    /// Nothing: the request was counted already.
    Done,
    /// The request, against the account it names.
    User,
    /// This.
    Fixed(Meter),
}

/// [`check_password`], with a refusal counted in
/// `taskmaster_login_failures_total`.
async fn verify_basic(
    state: &AppState,
    credentials: &Credentials,
    prefetched: Option<Option<AuthRecord>>,
    count: Count,
) -> Result<(Caller, u64), ApiError> {
    let checked = check_password(state, credentials, prefetched, count).await;
    if matches!(checked, Err(ApiError::Unauthorized)) {
        state.services.metrics.login_failures.increment(1);
    }
    checked
}

async fn check_password(
    state: &AppState,
    credentials: &Credentials,
    prefetched: Option<Option<AuthRecord>>,
    count: Count,
) -> Result<(Caller, u64), ApiError> {
    let Credentials::Basic {
        id,
        email_key,
        password,
    } = credentials
    else {
        return Err(ApiError::Unauthorized);
    };
    let auth = &state.auth;
    let record = match prefetched {
        Some(record) => record,
        None => {
            let meter = |id: UserId| match &count {
                Count::Done => None,
                Count::User => ratelimit::meter(state, Principal::User(id)),
                Count::Fixed(m) => Some(*m),
            };
            let (record, metered) = state.store.auth_record(*id, email_key, &meter).await?;
            ratelimit::admit(metered)?;
            record
        }
    };
    let Some(record) = record else {
        // No such account: counted all the same (by a digest of the name),
        // and checked against a dummy hash, so that neither a 429 nor the
        // time taken tells which accounts exist.
        let counter = Counter::Login(login_digest(*id, email_key));
        if let Some(wait) = count_attempt(state, counter).await? {
            return Err(ApiError::TooManyRequests(wait));
        }
        auth.verify(password, None).await;
        return Err(ApiError::Unauthorized);
    };
    // A credential verified moments ago passes without a check and without
    // a count: hammering a login must not lock out a working client.
    if remembered(state, UserId(record.id), password)
        != Some((record.credential_version, record.role))
    {
        let key = auth.cache_key(
            record.id,
            record.credential_version,
            &record.password_hash,
            password,
        );
        let counter = Counter::Account(UserId(record.id));
        let checked = auth
            .verify_counted(key, password, &record.password_hash, || {
                count_attempt(state, counter)
            })
            .await?;
        match checked {
            Checked::Limited(wait) => return Err(ApiError::TooManyRequests(wait)),
            Checked::Invalid => return Err(ApiError::Unauthorized),
            Checked::Valid { counted } => {
                if counted
                    && let Err(e) = state.store.give_back(counter, MAX_ATTEMPTS, WINDOW).await
                {
                    // The attempt then simply stays counted until its window ends.
                    tracing::debug!(error = %e, "giving back a login attempt failed");
                }
            }
        }
        if record.active {
            auth.remember_version(record.id, password, record.credential_version, record.role);
        }
    }
    if !record.active {
        return Err(deactivated());
    }
    let version = record.credential_version;
    let caller = Caller {
        id: Some(record.id),
        role: record.role,
        groups: record.groups,
        admin_of: record.admin_of,
        relations: true,
        method: Method::Basic,
    };
    Ok((caller, version))
}

/// The answer to the right password of a deactivated account: only the
/// holder of the password learns why it cannot sign in.
fn deactivated() -> ApiError {
    ApiError::Forbidden("This account is deactivated".into())
}
