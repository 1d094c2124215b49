//! Guessing limits: for logins, and for the owner password.
//!
//! **Logins.** Each account allows [`MAX_ATTEMPTS`] password checks per
//! [`WINDOW`], whether it is named by id or by email: that many at once,
//! then one more every [`WINDOW`] / [`MAX_ATTEMPTS`] (GCRA, the request
//! rate limiter's mechanism, see `store/lua/gcra.lua`); past it, 429 with
//! `Retry-After` until the next one is due. An attempt is counted in Redis
//! *before* its password is checked, so a parallel burst is counted in
//! full, and one count holds across shards and api instances. A success
//! gives its attempt back. Concurrent checks of the same credential share
//! one verification and count once, so a client opening many connections
//! with a right password is not refused. A credential verified moments ago
//! passes without a check (and without a count): hammering a login name
//! does not lock out a client already working with it. A name with no
//! account is counted too, by a digest of the name, so that a 429 does
//! not tell which accounts exist.
//!
//! **The owner password.** A wrong `X-Owner-Password` is logged (without
//! its value) and counted per client address ([`OWNER_MAX_PER_CLIENT`])
//! and in all ([`OWNER_MAX_ALL`]) per [`WINDOW`]. Once a count is over, the
//! header is refused with 429 *before* it is compared, right or wrong, so
//! guessing stops there. The refusal is remembered in this process
//! ([`OwnerGuard`]), so a right owner password costs no Redis round trip
//! while nothing is refused; while a refusal is remembered, each request
//! with the header checks the counts in Redis, so the refusal ends when
//! they run out, or at once when an operator deletes `P limit:owner:*`.
//! Another instance learns of a refusal at its first wrong guess.
//!
//! Memory is bounded by construction: counters are fixed-size keys in
//! Redis that expire once their burst is whole again, and [`OwnerGuard`] holds at most
//! [`OWNER_GUARD_MAX`] addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blake2::Digest;
use taskmaster_shared::domain::UserId;

/// Password checks allowed per account (or unknown login name) per [`WINDOW`].
pub const MAX_ATTEMPTS: u32 = 10;
/// Wrong owner passwords allowed per client address per [`WINDOW`].
pub const OWNER_MAX_PER_CLIENT: u32 = 10;
/// Wrong owner passwords allowed from all clients together per [`WINDOW`].
pub const OWNER_MAX_ALL: u32 = 100;
/// The span the attempt limits are given over.
pub const WINDOW: Duration = Duration::from_secs(300);
/// The longest login name that is looked at: an email is at most 254
/// bytes, and an id is shorter. Longer ones are refused before any work.
pub const MAX_LOGIN_BYTES: usize = 254;
/// Most client addresses [`OwnerGuard`] remembers; past it, every address
/// is refused until the entries run out.
pub const OWNER_GUARD_MAX: usize = 1024;

type Blake2b128 = blake2::Blake2b<blake2::digest::consts::U16>;

/// The counter key of a login name with no account: a digest, so the key
/// has a fixed size whatever the name's.
pub fn login_digest(id: Option<UserId>, email_key: &str) -> [u8; 16] {
    let mut hash = Blake2b128::new();
    match id {
        Some(id) => hash.update(id.to_string()),
        None => hash.update(email_key),
    }
    hash.finalize().into()
}

/// The owner-password refusals this process knows of.
#[derive(Default)]
pub struct OwnerGuard {
    state: Mutex<GuardState>,
}

#[derive(Default)]
struct GuardState {
    /// Every owner password is refused until then.
    all_until: Option<Instant>,
    /// Owner passwords from these addresses are refused until then.
    clients: HashMap<IpAddr, Instant>,
}

impl OwnerGuard {
    /// How long an owner password from `client` must still wait.
    pub fn blocked(&self, client: Option<IpAddr>) -> Option<Duration> {
        self.blocked_at(client, Instant::now())
    }

    fn blocked_at(&self, client: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let client_until = client.and_then(|ip| state.clients.get(&ip).copied());
        let full = state.clients.len() >= OWNER_GUARD_MAX;
        [state.all_until, client_until]
            .into_iter()
            .flatten()
            .chain(full.then(|| now + Duration::from_secs(1)))
            .map(|until| until.saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max()
    }

    /// Forgets the refusals that concern `client` (Redis says whether
    /// they still hold).
    pub fn forget(&self, client: Option<IpAddr>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.all_until = None;
        if let Some(ip) = client {
            state.clients.remove(&ip);
        }
    }

    /// Remembers refusals Redis reported: for `client` and for everyone.
    pub fn refuse(
        &self,
        client: Option<IpAddr>,
        for_client: Option<Duration>,
        all: Option<Duration>,
    ) {
        self.refuse_at(client, for_client, all, Instant::now());
    }

    fn refuse_at(
        &self,
        client: Option<IpAddr>,
        for_client: Option<Duration>,
        all: Option<Duration>,
        now: Instant,
    ) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = all {
            state.all_until = Some(state.all_until.map_or(now + wait, |u| u.max(now + wait)));
        }
        if let (Some(ip), Some(wait)) = (client, for_client) {
            if state.clients.len() >= OWNER_GUARD_MAX {
                state.clients.retain(|_, until| *until > now);
            }
            // Still full: everyone is refused anyway (see `blocked_at`).
            if state.clients.len() < OWNER_GUARD_MAX {
                state.clients.insert(ip, now + wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_digests_tell_names_apart_and_have_one_size() {
        let long = "x".repeat(10_000);
        assert_ne!(login_digest(None, "a@b.c"), login_digest(None, "a@b.d"));
        assert_ne!(login_digest(Some(UserId(7)), ""), login_digest(None, "8"));
        assert_eq!(login_digest(None, &long).len(), 16);
    }

    #[test]
    fn the_owner_guard_refuses_a_client_then_everyone_until_their_time_runs_out() {
        let guard = OwnerGuard::default();
        let now = Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert_eq!(guard.blocked_at(Some(a), now), None);
        guard.refuse_at(Some(a), Some(Duration::from_secs(60)), None, now);
        assert_eq!(
            guard.blocked_at(Some(a), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(guard.blocked_at(Some(b), now), None);
        guard.refuse_at(Some(b), None, Some(Duration::from_secs(30)), now);
        assert_eq!(
            guard.blocked_at(Some(b), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(guard.blocked_at(None, now), Some(Duration::from_secs(30)));
        let later = now + Duration::from_secs(45);
        assert_eq!(guard.blocked_at(Some(b), later), None);
        assert_eq!(
            guard.blocked_at(Some(a), later),
            Some(Duration::from_secs(15))
        );
    }

    #[test]
    fn the_owner_guard_stays_bounded_and_refuses_everyone_when_full() {
        let guard = OwnerGuard::default();
        let now = Instant::now();
        for i in 0..(OWNER_GUARD_MAX as u32 + 10) {
            let ip: IpAddr = std::net::Ipv4Addr::from(i).into();
            guard.refuse_at(Some(ip), Some(Duration::from_secs(60)), None, now);
        }
        let state = guard.state.lock().expect("not poisoned");
        assert_eq!(state.clients.len(), OWNER_GUARD_MAX);
        drop(state);
        let stranger: IpAddr = [192, 0, 2, 1].into();
        assert!(guard.blocked_at(Some(stranger), now).is_some());
    }
}
