//! Rate limits: every authenticated request counts against its principal
//! (a user with its password or its sessions, a personal API token, or the
//! owner header) at
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
//!
//! **Leases.** A count is a Lua script in Redis, several times the cost of
//! the `MGET` that serves a read (6 against 0.8 µs of Redis's one thread,
//! measured with redis-benchmark), so a busy principal would cost every
//! request a third of its throughput. A count may therefore take several
//! requests' worth at once (`burst / 16`, at most 256, and one for bursts
//! under 32): the shard keeps the rest for its next requests of that
//! principal, for at most a second, and those need no count in Redis. The
//! limit is never exceeded (what a shard holds was taken from the shared
//! count first); a principal near its limit may be refused up to a lease
//! early by one shard while another holds unused requests, which expire
//! within the second. Small bursts (under 32) lease nothing: every request
//! is counted exactly.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Meter, Metered, Principal};
use taskmaster_shared::config::Rate;

/// A request's slot: its count, for the headers, and when it began (the
/// leases' clock: a lease lives a second, so the request's own start time
/// is precise enough, and spares every request a clock read).
struct Slot {
    counted: Cell<Option<Metered>>,
    start: Instant,
}

tokio::task_local! {
    static COUNTED: Slot;
}

/// The current request's start, or now outside a request.
fn request_time() -> Instant {
    COUNTED
        .try_with(|slot| slot.start)
        .unwrap_or_else(|_| Instant::now())
}

/// Requests' worth a shard took from the shared count for a principal and
/// has not used yet.
struct Lease {
    left: u32,
    /// The shared count's remaining burst when it was taken.
    remaining: u32,
    /// When the burst is whole again, as the shared count said.
    reset_at: Instant,
    /// When the rest is given up.
    until: Instant,
}

/// How long a shard keeps leased requests.
const LEASE_LIFE: Duration = Duration::from_secs(1);
/// At most this many requests' worth per lease.
const MAX_LEASE: u32 = 256;
/// Bursts below this lease nothing: every request is counted exactly.
const SMALL_BURST: u32 = 32;

thread_local! {
    // A shard is one thread (see `crate::server`), so its leases are too.
    static LEASES: RefCell<HashMap<Principal, Lease>> = RefCell::new(HashMap::new());
}

/// How many requests' worth a count takes at `rate`.
fn lease_size(rate: Rate) -> u32 {
    if rate.burst < SMALL_BURST {
        1
    } else {
        (rate.burst / 16).clamp(1, MAX_LEASE)
    }
}

/// One request from this shard's lease for `principal`, when it holds one:
/// its count, as the headers will show it.
fn from_lease(principal: Principal, rate: Rate) -> Option<Metered> {
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        let lease = leases.get_mut(&principal)?;
        let now = request_time();
        if lease.left == 0 || lease.until <= now {
            lease.left = 0;
            return None;
        }
        lease.left -= 1;
        Some(Metered {
            allowed: true,
            remaining: lease.remaining.saturating_add(lease.left),
            reset_ms: lease.reset_at.saturating_duration_since(now).as_millis() as u64,
            retry_ms: 0,
            rate,
            granted: 1,
            principal,
        })
    })
}

/// Keeps what a count took beyond its own request.
fn keep_lease(m: &Metered) {
    if m.granted <= 1 {
        return;
    }
    let now = request_time();
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        // Bounded: a shard's leases are forgotten wholesale when many
        // principals came by within a second.
        if leases.len() >= 10_000 {
            leases.retain(|_, l| l.until > now && l.left > 0);
        }
        // Requests that found the lease empty at the same moment each took
        // one: what they took beyond themselves adds up, nothing is lost.
        let lease = leases.entry(m.principal).or_insert(Lease {
            left: 0,
            remaining: 0,
            reset_at: now,
            until: now,
        });
        if lease.until <= now {
            lease.left = 0;
        }
        lease.left = lease.left.saturating_add(m.granted - 1);
        lease.remaining = m.remaining;
        lease.reset_at = now + Duration::from_millis(m.reset_ms);
        lease.until = now + LEASE_LIFE;
    });
}

/// Runs a request's future, which began at `start`, with a slot for its
/// count; returns its output and the count.
pub async fn scope<F: std::future::Future>(
    start: Instant,
    future: F,
) -> (F::Output, Option<Metered>) {
    let slot = Slot {
        counted: Cell::new(None),
        start,
    };
    COUNTED
        .scope(slot, async {
            let output = future.await;
            (output, COUNTED.with(|slot| slot.counted.get()))
        })
        .await
}

/// The meter of a principal's request: `None` while limits are off, or
/// when the request was let through from this shard's lease (its count is
/// then already kept for the headers).
pub fn meter(state: &AppState, principal: Principal) -> Option<Meter> {
    let rate = state.config.accounts.rate?;
    if let Some(leased) = from_lease(principal, rate) {
        let _ = COUNTED.try_with(|slot| slot.counted.set(Some(leased)));
        return None;
    }
    Some(Meter {
        principal,
        rate,
        want: lease_size(rate),
    })
}

/// The meter of an account endpoint's request from `client` (always on).
pub fn auth_meter(state: &AppState, client: IpAddr) -> Meter {
    Meter {
        principal: Principal::AuthClient(client),
        rate: state.config.accounts.auth_rate,
        want: 1,
    }
}

/// Keeps a count for the answer's headers; a refused one is 429.
pub fn admit(metered: Option<Metered>) -> Result<(), ApiError> {
    let Some(m) = metered else {
        return Ok(());
    };
    keep_lease(&m);
    // Outside a request (a test calling a handler directly) there is no
    // slot, and no headers to give.
    let _ = COUNTED.try_with(|slot| slot.counted.set(Some(m)));
    if m.allowed {
        Ok(())
    } else {
        Err(ApiError::RateLimited(Duration::from_millis(m.retry_ms)))
    }
}

/// The count's headers: `RateLimit-Limit` (the burst),
/// `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the burst is
/// whole), with the `X-RateLimit-*` spellings many clients read. (Every
/// answer carries them, so they are kept to these six.)
pub fn headers(m: &Metered, headers: &mut HeaderMap) {
    // On every answer: names made once; the limit and the reset, which
    // seldom change, formatted once per shard and value and shared after
    // (a clone is a reference count); only the remaining count is new.
    static NAMES: [HeaderName; 6] = [
        HeaderName::from_static("ratelimit-limit"),
        HeaderName::from_static("ratelimit-remaining"),
        HeaderName::from_static("ratelimit-reset"),
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderName::from_static("x-ratelimit-reset"),
    ];
    thread_local! {
        static FORMATTED: RefCell<[(u64, HeaderValue); 2]> =
            RefCell::new([(0, HeaderValue::from(0u64)), (0, HeaderValue::from(0u64))]);
    }
    let [limit, remaining, reset, x_limit, x_remaining, x_reset] = NAMES.clone();
    let (limit_value, reset_value) = FORMATTED.with(|cache| {
        let mut cache = cache.borrow_mut();
        let mut formatted = |i: usize, n: u64| {
            if cache[i].0 != n {
                cache[i] = (n, HeaderValue::from(n));
            }
            cache[i].1.clone()
        };
        (
            formatted(0, u64::from(m.rate.burst)),
            formatted(1, m.reset_ms.div_ceil(1_000)),
        )
    });
    let remaining_value = HeaderValue::from(m.remaining);
    headers.reserve(6);
    headers.insert(limit, limit_value.clone());
    headers.insert(x_limit, limit_value);
    headers.insert(remaining, remaining_value.clone());
    headers.insert(x_remaining, remaining_value);
    headers.insert(reset, reset_value.clone());
    headers.insert(x_reset, reset_value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::domain::UserId;

    fn rate(burst: u32) -> Rate {
        Rate {
            per_minute: 1_200,
            burst,
        }
    }

    #[test]
    fn small_bursts_lease_nothing_and_large_ones_a_sixteenth_up_to_256() {
        for (burst, size) in [
            (1, 1),
            (5, 1),
            (31, 1),
            (32, 2),
            (200, 12),
            (4_096, 256),
            (10_000_000, 256),
        ] {
            assert_eq!(lease_size(rate(burst)), size, "{burst}");
        }
    }

    #[test]
    fn a_lease_serves_what_was_taken_beyond_the_first_and_no_more() {
        let principal = Principal::User(UserId(77));
        let taken = Metered {
            allowed: true,
            remaining: 150,
            reset_ms: 2_500,
            retry_ms: 0,
            rate: rate(200),
            granted: 3,
            principal,
        };
        keep_lease(&taken);
        let first = from_lease(principal, rate(200)).expect("leased");
        assert!(first.allowed);
        assert_eq!(
            first.remaining, 151,
            "the shared count's rest and the lease's"
        );
        assert_eq!(
            from_lease(principal, rate(200)).map(|m| m.remaining),
            Some(150)
        );
        assert!(
            from_lease(principal, rate(200)).is_none(),
            "two leased, two served"
        );
        assert!(from_lease(Principal::Owner, rate(200)).is_none());
        // Two counts that found it empty at once: both rests are kept.
        keep_lease(&taken);
        keep_lease(&taken);
        let served = std::iter::from_fn(|| from_lease(principal, rate(200))).count();
        assert_eq!(served, 4);
    }
}
