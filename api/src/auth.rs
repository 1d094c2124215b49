//! Authentication: who is calling.
//!
//! 1. `X-Owner-Password` equal to the owner secret (compared in constant
//!    time) makes the caller the owner. A wrong value falls through.
//! 2. HTTP Basic auth with a numeric user id or an email (case-insensitive)
//!    as the user name, checked against the stored argon2id hash.
//! 3. Anything else is 401 with `WWW-Authenticate: Basic`.
//!
//! argon2 is slow by design (tens of milliseconds), so a successful check is
//! remembered for [`CACHE_TTL`] in process memory, under a keyed BLAKE2b hash
//! of (user id, credential version, stored hash, password) with a random key
//! made at start: neither the password nor anything that could be checked
//! offline against it is kept. The user's credential version is still read
//! on every request, so a password change or a role change (each bumps
//! it) or a deletion (which removes it) takes effect on the next request,
//! on every api instance.
//!
//! A credential in use is verified again in the background once it is
//! [`REFRESH_AFTER`] old, while requests go on using the remembered check:
//! an active client never waits for argon2 after its first request (the
//! whole minute's requests of every busy client used to queue behind one
//! verification, a p99 of 50–70 ms once a minute under load).
//!
//! Repeated failures for one login name are limited ([`MAX_FAILURES`] per
//! [`FAILURE_WINDOW`], then 429), and unknown users cost the same argon2
//! work as known ones, so timing does not reveal which logins exist.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use blake2::Digest;
use subtle::ConstantTimeEq;
use taskmaster_shared::domain::{Email, Role, parse_id};
use tokio::sync::{Semaphore, watch};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::AuthRecord;

/// How long a verified credential is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// From this age on, the first request that uses a remembered credential
/// starts its background re-verification.
pub const REFRESH_AFTER: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 100_000;
/// Failed logins allowed per login name within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);

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
}

impl Caller {
    pub fn owner_header() -> Self {
        Caller {
            id: None,
            role: Role::Owner,
            groups: Vec::new(),
            admin_of: Vec::new(),
            relations: true,
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

    /// How write scripts name the caller: `owner` or the user id.
    pub fn script_name(&self) -> String {
        match (self.is_owner(), self.id) {
            (true, _) | (false, None) => "owner".to_owned(),
            (false, Some(id)) => id.to_string(),
        }
    }
}

/// Password hashing with the OWASP argon2id parameters (19 MiB, t=2, p=1).
pub fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password on the blocking pool (it takes tens of milliseconds).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::Internal(e.to_string().into()))
}

fn verify_blocking(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| argon2().verify_password(password, &parsed).is_ok())
}

/// Process-wide authentication state: the verified-credential cache, the
/// failure limiter and the key of the cache's hash.
///
/// The cache maps a keyed hash of (user id, password) to the credential
/// version the password was verified against. A credential passes without
/// argon2 while the user's current version is still that one: every change
/// of password or role, a deletion and a restore change the version.
///
/// argon2 work is bounded by a semaphore (one permit per core) so a burst
/// of logins cannot starve the request workers, and concurrent checks of
/// the same credential share one verification ("single flight"): a client
/// opening 64 connections at once pays argon2 once, not 64 times.
pub struct Authenticator {
    /// BLAKE2b that has taken in this process's random key and nothing
    /// else: each MAC continues a clone with its input. Key and input then
    /// share one 128-byte block (one compression instead of the two of
    /// BLAKE2's keyed mode, which gives the key a block of its own); as
    /// BLAKE2 has no length extension, the key as a prefix makes it a MAC.
    keyed: Blake2b256,
    /// Keyed hash of (user id, password) → the credential version it was
    /// last verified against, and when. Requests compare it with the
    /// version they read; a write may instead carry "this user must still
    /// have version v" into its script and skip reading the user.
    versions: Mutex<HashMap<[u8; 32], Remembered>>,
    inflight: Mutex<HashMap<[u8; 32], watch::Receiver<Option<bool>>>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

/// A credential verified against a credential version.
struct Remembered {
    version: u64,
    /// The role the user had at that version (a role change bumps it).
    role: Role,
    at: Instant,
    /// A background re-verification was started for it.
    refreshing: bool,
}

/// What [`Authenticator::verified`] knows of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verified {
    /// The credential version the password was verified against.
    version: u64,
    role: Role,
    /// The caller should start [`refresh`] (told once per verification).
    refresh_due: bool,
}

/// Verified against when the user does not exist, to spend equal time.
/// One per process: the first [`Authenticator::new`] makes it (so that no
/// login pays for it), the other shards' and test apps' reuse it.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(&secret, &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

impl Authenticator {
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        LazyLock::force(&DUMMY_HASH);
        Authenticator {
            keyed: Blake2b256::new_with_prefix(key),
            versions: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// A BLAKE2b MAC under this process's random key.
    fn mac(&self) -> Blake2b256 {
        self.keyed.clone()
    }

    /// Names one verification in flight: the same credential against the
    /// same stored hash.
    fn cache_key(&self, id: u64, cv: u64, hash: &str, password: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(id.to_le_bytes());
        mac.update(cv.to_le_bytes());
        mac.update((hash.len() as u64).to_le_bytes());
        mac.update(hash.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into()
    }

    fn version_key(&self, id: u64, password: &str) -> [u8; 32] {
        let mut mac = self.mac();
        // A distinct shape from `cache_key`'s input, so the two never meet.
        mac.update(b"version");
        mac.update(id.to_le_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into()
    }

    /// The credential version user `id`'s `password` was verified against
    /// less than [`CACHE_TTL`] ago, and whether it is time to verify it
    /// again in the background (true once per verification, from
    /// [`REFRESH_AFTER`] on).
    fn verified(&self, id: u64, password: &str) -> Option<Verified> {
        self.verified_at(id, password, Instant::now())
    }

    fn verified_at(&self, id: u64, password: &str, now: Instant) -> Option<Verified> {
        let key = self.version_key(id, password);
        let mut map = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.get_mut(&key)?;
        let age = now.saturating_duration_since(entry.at);
        if age >= CACHE_TTL {
            return None;
        }
        let refresh_due = age >= REFRESH_AFTER && !entry.refreshing;
        entry.refreshing |= refresh_due;
        Some(Verified {
            version: entry.version,
            role: entry.role,
            refresh_due,
        })
    }

    /// Ends a background re-verification of the credential remembered
    /// against `version`: a success starts its clock again, a failure
    /// forgets it. An entry replaced meanwhile (verified against a newer
    /// version by a request) is left alone.
    fn settle_refresh(&self, id: u64, password: &str, version: u64, still_valid: bool) {
        let key = self.version_key(id, password);
        let mut map = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&key) {
            Some(entry) if entry.version == version && still_valid => {
                entry.at = Instant::now();
                entry.refreshing = false;
            }
            Some(entry) if entry.version == version => {
                map.remove(&key);
            }
            _ => {}
        }
    }

    fn remember_version(&self, id: u64, password: &str, version: u64, role: Role) {
        let key = self.version_key(id, password);
        let mut map = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            map.retain(|_, r| r.at.elapsed() < CACHE_TTL);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(
            key,
            Remembered {
                version,
                role,
                at: Instant::now(),
                refreshing: false,
            },
        );
    }

    fn blocked(&self, login: &str) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = map.get(login)?;
        let age = since.elapsed();
        (*count >= MAX_FAILURES && age < FAILURE_WINDOW).then(|| FAILURE_WINDOW - age)
    }

    fn record_failure(&self, login: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > CACHE_MAX {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = map.entry(login.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    fn clear_failures(&self, login: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(login);
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let password = password.as_bytes().to_vec();
        let hash = hash.map(str::to_owned);
        let real = hash.is_some();
        let ok =
            cpu_bound(move || verify_blocking(&password, hash.as_deref().unwrap_or(&DUMMY_HASH)))
                .await
                .unwrap_or(false);
        ok && real
    }

    /// Verifies once per credential however many requests ask at the same
    /// time (`key`: [`Authenticator::cache_key`]). The caller remembers a
    /// success.
    async fn verify_shared(&self, key: [u8; 32], password: &str, hash: &str) -> bool {
        let follower = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&key) {
                Some(rx) => Ok(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key, rx);
                    Err(tx)
                }
            }
        };
        match follower {
            Err(tx) => {
                let _leader = FlightGuard { auth: self, key };
                let ok = self.verify(password, Some(hash)).await;
                let _ = tx.send(Some(ok));
                ok
            }
            Ok(mut rx) => {
                let answer = rx.wait_for(Option::is_some).await.ok().and_then(|v| *v);
                match answer {
                    Some(ok) => ok,
                    None => {
                        // The leader went away without an answer (its
                        // request was cancelled): check for ourselves.
                        self.verify(password, Some(hash)).await
                    }
                }
            }
        }
    }
}

/// Removes a single-flight entry however its leader ends.
struct FlightGuard<'a> {
    auth: &'a Authenticator,
    key: [u8; 32],
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.auth.inflight.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&self.key);
    }
}

/// Runs CPU-heavy password work on the blocking pool, at most one job per
/// core at a time.
pub async fn cpu_bound<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    });
    let _permit = PERMITS.acquire().await.ok()?;
    tokio::task::spawn_blocking(f).await.ok()
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new()
    }
}

fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Credentials as sent, parsed without any I/O. Handlers on hot paths take
/// these instead of [`Caller`] and use [`authenticate_with`], which reads
/// the caller's record in the same Redis round trip as the handler's data.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A correct `X-Owner-Password`.
    Owner,
    Basic {
        /// The login when it is a numeric id.
        id: Option<u64>,
        /// The case-folded login when it is an email.
        email_key: String,
        password: String,
    },
}

impl Credentials {
    fn limiter_key(id: Option<u64>, email_key: &str) -> String {
        id.map(|i| i.to_string())
            .unwrap_or_else(|| email_key.to_owned())
    }
}

/// Compares digests, not the texts: comparing slices of different lengths
/// returns at once, which would tell a guesser the secret's length.
fn owner_secret_matches(given: &[u8], secret: &str) -> bool {
    let given = Blake2b256::digest(given);
    let secret = Blake2b256::digest(secret.as_bytes());
    bool::from(given.as_slice().ct_eq(secret.as_slice()))
}

impl FromRequestParts<AppState> for Credentials {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(given) = parts.headers.get("x-owner-password")
            && owner_secret_matches(given.as_bytes(), state.config.owner_password.expose())
        {
            return Ok(Credentials::Owner);
        }
        let Some((login, password)) = basic_credentials(parts) else {
            return Err(ApiError::Unauthorized);
        };
        Ok(match parse_id(&login) {
            Some(id) => Credentials::Basic {
                id: Some(id),
                email_key: String::new(),
                password,
            },
            None => Credentials::Basic {
                id: None,
                email_key: Email::key_of(&login),
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
        resolve(state, &credentials, None).await
    }
}

/// Authenticates and runs the commands `extra` adds to the pipeline in the
/// same round trip; returns the caller and the replies to `extra`. The data
/// is read before the caller is known, so handlers must check permissions
/// before answering with it.
///
/// `about` is the user whose data the request is about. When that is the
/// caller itself, and its password was verified against its current
/// credential version moments ago, the round trip reads only that version
/// ([`Store::version_command`](crate::store::Store::version_command)): the
/// groups are not needed (the caller gets none, marked by
/// [`Caller::relations`]); the password hash and the role are not needed
/// either, because any change of password, role or existence changes the
/// version, and the role it was verified with is remembered with it.
pub async fn authenticate_with(
    state: &AppState,
    credentials: &Credentials,
    about: Option<u64>,
    extra: impl FnOnce(&mut redis::Pipeline),
) -> Result<(Caller, Vec<redis::Value>), ApiError> {
    if let Some((id, verified)) = remembered_self(state, credentials, about) {
        let mut pipe = redis::pipe();
        state.store.version_command(&mut pipe, id);
        extra(&mut pipe);
        let mut replies: Vec<redis::Value> = state.store.query(&pipe).await?;
        let rest = replies.split_off(1.min(replies.len()));
        let caller = still_current(state, credentials, id, verified, replies.first()).await?;
        return Ok((caller, rest));
    }
    authenticate_fully(state, credentials, extra).await
}

/// [`authenticate_with`] for requests that need one key's value: when the
/// caller asks about itself with a remembered credential, that is a single
/// `MGET` of its credential version and the key (the cheapest round trip
/// Redis has); otherwise the full authentication and a `GET` of the key.
pub async fn authenticate_and_get(
    state: &AppState,
    credentials: &Credentials,
    about: Option<u64>,
    key: String,
) -> Result<(Caller, Option<redis::Value>), ApiError> {
    if let Some((id, verified)) = remembered_self(state, credentials, about) {
        let mut mget = redis::cmd("MGET");
        mget.arg(state.keys.user_cv(id)).arg(key);
        let replies: Vec<redis::Value> = state.store.query_one(&mget).await?;
        let mut replies = replies.into_iter();
        let version = replies.next();
        let caller = still_current(state, credentials, id, verified, version.as_ref()).await?;
        return Ok((caller, replies.next()));
    }
    let (caller, mut replies) = authenticate_fully(state, credentials, |pipe| {
        pipe.cmd("GET").arg(key);
    })
    .await?;
    Ok((caller, replies.pop()))
}

/// The caller's id and what is remembered of its credential, when the
/// request is about the caller's own data (`about`) and its credential was
/// verified moments ago.
fn remembered_self(
    state: &AppState,
    credentials: &Credentials,
    about: Option<u64>,
) -> Option<(u64, (u64, Role))> {
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

/// The caller of a remembered credential, if `version_reply` (the user's
/// credential version, read just now) is still the one it was verified
/// against; otherwise (changed or gone since) the ordinary way, which reads
/// the whole record and verifies again.
async fn still_current(
    state: &AppState,
    credentials: &Credentials,
    id: u64,
    (verified, role): (u64, Role),
    version_reply: Option<&redis::Value>,
) -> Result<Caller, ApiError> {
    if state.store.parse_version(version_reply) == Some(verified) {
        return Ok(Caller {
            id: Some(id),
            role,
            groups: Vec::new(),
            admin_of: Vec::new(),
            relations: false,
        });
    }
    resolve(state, credentials, None).await
}

/// Reads the whole auth record (when the credentials name a user id) and
/// `extra`'s commands in one round trip, then resolves the caller.
async fn authenticate_fully(
    state: &AppState,
    credentials: &Credentials,
    extra: impl FnOnce(&mut redis::Pipeline),
) -> Result<(Caller, Vec<redis::Value>), ApiError> {
    let prefetch = match credentials {
        Credentials::Basic { id: Some(id), .. } => Some(*id),
        _ => None,
    };
    let mut pipe = redis::pipe();
    if let Some(id) = prefetch {
        state.store.auth_commands(&mut pipe, id);
    }
    extra(&mut pipe);
    let mut replies: Vec<redis::Value> = state.store.query(&pipe).await?;
    let record = match prefetch {
        Some(id) => {
            let rest = replies.split_off(crate::store::AUTH_COMMANDS.min(replies.len()));
            let auth = std::mem::replace(&mut replies, rest);
            Some(state.store.parse_auth(id, auth)?)
        }
        None => None,
    };
    Ok((resolve(state, credentials, record).await?, replies))
}

/// The credential version user `id`'s `password` was verified against
/// moments ago ([`Authenticator::verified`]); starts its background
/// re-verification when that is due. A write may proceed on the version
/// only if it checks, in the same atomic step, that the user still has it.
pub fn remembered(state: &AppState, id: u64, password: &str) -> Option<(u64, Role)> {
    let verified = state.auth.verified(id, password)?;
    if verified.refresh_due {
        refresh(state, id, password, verified.version);
    }
    Some((verified.version, verified.role))
}

/// Verifies user `id`'s `password` again, in the background, against the
/// stored hash, while `version` is still the user's credential version;
/// remembers it afresh on success. A password that no longer matches, or a
/// changed version, is forgotten, so the next request takes the full way.
/// When Redis fails, the remembered check simply runs out at [`CACHE_TTL`].
fn refresh(state: &AppState, id: u64, password: &str, version: u64) {
    let state = state.clone();
    let password = password.to_owned();
    tokio::spawn(async move {
        let record = match state.store.auth_record(Some(id), "").await {
            Ok(Some(record)) if record.credential_version == version => record,
            Ok(_) => return state.auth.settle_refresh(id, &password, version, false),
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
            .settle_refresh(id, &password, version, still_valid);
    });
}

/// Turns credentials into a caller. `prefetched` is the auth record when it
/// was already read (`Some(None)`: the user does not exist).
pub async fn resolve(
    state: &AppState,
    credentials: &Credentials,
    prefetched: Option<Option<AuthRecord>>,
) -> Result<Caller, ApiError> {
    let Credentials::Basic {
        id,
        email_key,
        password,
    } = credentials
    else {
        return Ok(Caller::owner_header());
    };
    let auth = &state.auth;
    let limiter_key = Credentials::limiter_key(*id, email_key);
    let record = match prefetched {
        Some(record) => record,
        None => state.store.auth_record(*id, email_key).await?,
    };
    let Some(record) = record else {
        if let Some(wait) = auth.blocked(&limiter_key) {
            return Err(ApiError::TooManyRequests(wait));
        }
        auth.verify(password, None).await;
        auth.record_failure(&limiter_key);
        return Err(ApiError::Unauthorized);
    };
    // A credential verified moments ago passes even while its login name
    // is being hammered: the limiter must not lock out a working client.
    if remembered(state, record.id, password) != Some((record.credential_version, record.role)) {
        let key = auth.cache_key(
            record.id,
            record.credential_version,
            &record.password_hash,
            password,
        );
        if let Some(wait) = auth.blocked(&limiter_key) {
            return Err(ApiError::TooManyRequests(wait));
        }
        if !auth
            .verify_shared(key, password, &record.password_hash)
            .await
        {
            auth.record_failure(&limiter_key);
            return Err(ApiError::Unauthorized);
        }
        auth.clear_failures(&limiter_key);
        auth.remember_version(record.id, password, record.credential_version, record.role);
    }
    Ok(Caller {
        id: Some(record.id),
        role: record.role,
        groups: record.groups,
        admin_of: record.admin_of,
        relations: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2()
            .hash_password(b"secret123", &salt)
            .expect("hash")
            .to_string();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_blocking(b"secret123", &hash));
        assert!(!verify_blocking(b"secret124", &hash));
        assert!(!verify_blocking(b"secret123", "not a hash"));
    }

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

    #[test]
    fn cache_keys_change_with_every_input() {
        let a = Authenticator::new();
        let base = a.cache_key(1, 1, "h", "pw");
        assert_ne!(base, a.cache_key(2, 1, "h", "pw"));
        assert_ne!(base, a.cache_key(1, 2, "h", "pw"));
        assert_ne!(base, a.cache_key(1, 1, "h2", "pw"));
        assert_ne!(base, a.cache_key(1, 1, "h", "pw2"));
        assert_ne!(
            base,
            Authenticator::new().cache_key(1, 1, "h", "pw"),
            "keyed per process"
        );
    }

    #[test]
    fn a_remembered_credential_asks_for_one_refresh_then_runs_out() {
        let auth = Authenticator::new();
        auth.remember_version(7, "secret", 3, Role::GroupAdmin);
        let start = Instant::now();
        let at = |secs: u64| auth.verified_at(7, "secret", start + Duration::from_secs(secs));
        let fresh = Verified {
            version: 3,
            role: Role::GroupAdmin,
            refresh_due: false,
        };
        assert_eq!(at(1), Some(fresh));
        assert_eq!(auth.verified_at(7, "other", start), None);
        let half = REFRESH_AFTER.as_secs();
        assert_eq!(
            at(half),
            Some(Verified {
                version: 3,
                role: Role::GroupAdmin,
                refresh_due: true
            })
        );
        // Only the first request past the mark starts a refresh.
        assert_eq!(at(half + 1), Some(fresh));
        assert_eq!(at(CACHE_TTL.as_secs()), None);
        // A refresh that succeeds starts the clock again.
        auth.remember_version(7, "secret", 3, Role::GroupAdmin);
        auth.settle_refresh(7, "secret", 3, true);
        assert_eq!(auth.verified(7, "secret"), Some(fresh));
        // One that settles a version replaced meanwhile changes nothing.
        auth.settle_refresh(7, "secret", 2, false);
        assert_eq!(auth.verified(7, "secret"), Some(fresh));
        auth.settle_refresh(7, "secret", 3, false);
        assert_eq!(auth.verified(7, "secret"), None);
    }

    #[test]
    fn the_limiter_blocks_after_repeated_failures() {
        let a = Authenticator::new();
        for _ in 0..MAX_FAILURES {
            assert!(a.blocked("x@y.z").is_none());
            a.record_failure("x@y.z");
        }
        assert!(a.blocked("x@y.z").is_some());
        assert!(a.blocked("other").is_none());
        a.clear_failures("x@y.z");
        assert!(a.blocked("x@y.z").is_none());
    }
}
