//! The verified-credential cache of one shard.
//!
//! argon2 is slow by design (tens of milliseconds), so a successful check is
//! remembered for [`CACHE_TTL`] in process memory, under a keyed BLAKE2b hash
//! of (user id, credential version, stored hash, password) with a random key
//! made at start: neither the password nor anything that could be checked
//! offline against it is kept. The user's credential version is still read
//! on every request, so a password change or a role change (each bumps
//! it) or a deletion (which removes it) takes effect on the next request,
//! on every api instance. A version is never given twice, not even after
//! a crash of Redis's host took back the change that gave it (a change
//! takes Redis's clock, see `bump_cv` in `store/lua/common.lua`): a
//! remembered version names one password for good.
//!
//! A credential in use is verified again in the background once it is
//! [`REFRESH_AFTER`] old, while requests go on using the remembered check:
//! an active client never waits for argon2 after its first request (the
//! whole minute's requests of every busy client used to queue behind one
//! verification, a p99 of 50–70 ms once a minute under load).
//!
//! The cache is per shard (no lock is shared between threads on the
//! hottest path); each shard pays argon2 once per credential.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::Digest;
use taskmaster_shared::domain::Role;
use tokio::sync::watch;

use super::password::{DUMMY_HASH, cpu_bound, verify_blocking};
use crate::error::ApiError;

/// How long a verified credential is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// From this age on, the first request that uses a remembered credential
/// starts its background re-verification.
pub const REFRESH_AFTER: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 100_000;

/// A shard's verified-credential cache, with the key of its hash.
///
/// The cache maps a keyed hash of (user id, password) to the credential
/// version the password was verified against. A credential passes without
/// argon2 while the user's current version is still that one: every change
/// of password or role, a deletion and a restore change the version.
///
/// argon2 work is bounded by a semaphore (one permit per core) so a burst
/// of logins cannot starve the request workers, and concurrent checks of
/// the same credential share one verification ("single flight"): a client
/// opening 64 connections at once pays argon2 once, not 64 times, and
/// counts one attempt against its limit.
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
    inflight: Mutex<HashMap<[u8; 32], watch::Receiver<Option<Checked>>>>,
    lookups: std::sync::Arc<crate::metrics::HitMiss>,
}

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

/// A credential verified against a credential version.
struct Remembered {
    pub version: u64,
    /// The role the user had at that version (a role change bumps it).
    role: Role,
    at: Instant,
    /// A background re-verification was started for it.
    refreshing: bool,
}

/// What [`Authenticator::verified`] knows of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verified {
    /// The credential version the password was verified against.
    pub version: u64,
    pub role: Role,
    /// The caller should start a background re-verification (told once
    /// per verification).
    pub refresh_due: bool,
}

impl Authenticator {
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        LazyLock::force(&DUMMY_HASH);
        Authenticator {
            keyed: Blake2b256::new_with_prefix(key),
            versions: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            lookups: std::sync::Arc::default(),
        }
    }

    /// This cache, counting its hits and misses in `lookups`.
    pub fn counted(mut self, lookups: std::sync::Arc<crate::metrics::HitMiss>) -> Self {
        self.lookups = lookups;
        self
    }

    /// A BLAKE2b MAC under this process's random key.
    fn mac(&self) -> Blake2b256 {
        self.keyed.clone()
    }

    /// Names one verification in flight: the same credential against the
    /// same stored hash.
    pub(super) fn cache_key(&self, id: u64, cv: u64, hash: &str, password: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(id.to_le_bytes());
        mac.update(cv.to_le_bytes());
        mac.update((hash.len() as u64).to_le_bytes());
        mac.update(hash.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into()
    }

    pub(super) fn version_key(&self, id: u64, password: &str) -> [u8; 32] {
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
    pub(super) fn verified(&self, id: u64, password: &str) -> Option<Verified> {
        self.lookups
            .count(self.verified_at(id, password, Instant::now()))
    }

    pub(super) fn verified_at(&self, id: u64, password: &str, now: Instant) -> Option<Verified> {
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
    pub(super) fn settle_refresh(&self, id: u64, password: &str, version: u64, still_valid: bool) {
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

    pub(super) fn remember_version(&self, id: u64, password: &str, version: u64, role: Role) {
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

    pub(super) async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let password = password.as_bytes().to_vec();
        let hash = hash.map(str::to_owned);
        let real = hash.is_some();
        let ok =
            cpu_bound(move || verify_blocking(&password, hash.as_deref().unwrap_or(&DUMMY_HASH)))
                .await
                .unwrap_or(false);
        ok && real
    }

    /// Checks `password` against `hash` once per credential however many
    /// requests ask at the same time (`key`: [`Authenticator::cache_key`]).
    /// Whoever runs the check first calls `count` (the attempt limiter)
    /// and refuses when it says so; requests sharing that check share its
    /// outcome, so they count once. The caller remembers a success.
    pub(super) async fn verify_counted<F>(
        &self,
        key: [u8; 32],
        password: &str,
        hash: &str,
        count: impl Fn() -> F,
    ) -> Result<Checked, ApiError>
    where
        F: Future<Output = Result<Option<Duration>, ApiError>>,
    {
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
                let checked = self.count_and_verify(password, hash, count).await?;
                let shared = match checked {
                    Checked::Valid { .. } => Checked::Valid { counted: false },
                    other => other,
                };
                let _ = tx.send(Some(shared));
                Ok(checked)
            }
            Ok(mut rx) => {
                let answer = rx.wait_for(Option::is_some).await.ok().and_then(|v| *v);
                match answer {
                    Some(checked) => Ok(checked),
                    // The leader went away without an answer (its request
                    // was cancelled, or counting failed): check for ourselves.
                    None => self.count_and_verify(password, hash, count).await,
                }
            }
        }
    }

    async fn count_and_verify<F>(
        &self,
        password: &str,
        hash: &str,
        count: impl Fn() -> F,
    ) -> Result<Checked, ApiError>
    where
        F: Future<Output = Result<Option<Duration>, ApiError>>,
    {
        if let Some(wait) = count().await? {
            return Ok(Checked::Limited(wait));
        }
        Ok(if self.verify(password, Some(hash)).await {
            Checked::Valid { counted: true }
        } else {
            Checked::Invalid
        })
    }
}

/// What a counted password check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checked {
    /// Right; `counted`: this request counted the attempt (and gives it back).
    Valid {
        counted: bool,
    },
    Invalid,
    /// Not checked: the account is over its attempt limit for this long.
    Limited(Duration),
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

impl Default for Authenticator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A cache holding as many fresh entries as it may.
    fn full_cache() -> Authenticator {
        let auth = Authenticator::new();
        for id in 0..CACHE_MAX as u64 {
            auth.remember_version(id, "pw", 1, Role::User);
        }
        assert_eq!(held(&auth), CACHE_MAX);
        auth
    }

    fn held(auth: &Authenticator) -> usize {
        auth.versions.lock().expect("versions").len()
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let auth = full_cache();
        // Full of fresh entries: the next one starts the cache again.
        auth.remember_version(u64::MAX, "pw", 1, Role::User);
        assert_eq!(held(&auth), 1);
        assert!(auth.verified(u64::MAX, "pw").is_some());
    }

    #[test]
    fn a_full_cache_makes_room_by_dropping_what_expired_and_keeps_the_rest() {
        let auth = full_cache();
        // Half of them were verified longer ago than the cache keeps them.
        let long_ago = Instant::now()
            .checked_sub(CACHE_TTL + Duration::from_secs(1))
            .expect("the machine has been up for over a minute");
        for entry in auth
            .versions
            .lock()
            .expect("versions")
            .values_mut()
            .step_by(2)
        {
            entry.at = long_ago;
        }
        auth.remember_version(u64::MAX, "pw", 1, Role::User);
        assert_eq!(held(&auth), CACHE_MAX / 2 + 1);
        // The half kept is the fresh half, not the expired one.
        assert!(
            auth.versions
                .lock()
                .expect("versions")
                .values()
                .all(|e| e.at.elapsed() < CACHE_TTL)
        );
        assert!(auth.verified(u64::MAX, "pw").is_some());
    }
}
