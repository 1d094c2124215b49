//! Request ids: one per request, in the span, in the answer's
//! `X-Request-Id` header and in the change log (so the audit log ties every
//! change to the request that made it).
//!
//! A trusted proxy's own `X-Request-Id` (one connecting from an address of
//! `TRUSTED_PROXIES`: by default loopback, where nginx on the same machine
//! connects from) is kept when it is 1 to 64 characters of
//! `A-Z a-z 0-9 . _ : -`, so that a request can be followed from nginx to
//! the audit log; anything else, and any other caller's, is replaced (a
//! client must not be able to pass its requests off as another's in the
//! logs and the audit log). Ours are this
//! process's random 32-bit prefix and a counter, in hex: unique across
//! instances and restarts without a random draw per request.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::http::{HeaderMap, HeaderName};

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

static PREFIX: LazyLock<u32> = LazyLock::new(|| OsRng.next_u32());
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `s` may stand as a request id as given.
fn acceptable(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The request's id: the one it brought when acceptable and `trusted`
/// (it came from a trusted proxy), else a new one.
pub fn of(headers: &HeaderMap, trusted: bool) -> Arc<str> {
    if trusted
        && let Some(given) = headers.get(&HEADER).and_then(|v| v.to_str().ok())
        && acceptable(given)
    {
        return Arc::from(given);
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Arc::from(format!("{:08x}-{n:x}", *PREFIX).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_id_is_kept_only_when_it_is_short_and_plain() {
        let table = [
            ("abc-123", true),
            ("nginx:4f.x_y", true),
            ("", false),
            ("has space", false),
            ("ünï", false),
            (&"x".repeat(65), false),
            (&"x".repeat(64), true),
        ];
        for (given, kept) in table {
            let mut h = HeaderMap::new();
            if let Ok(v) = given.parse() {
                h.insert(&HEADER, v);
            }
            assert_eq!(&*of(&h, true) == given, kept, "{given:?}");
            assert_ne!(&*of(&h, false), given, "{given:?} from an untrusted peer");
        }
        let (a, b) = (of(&HeaderMap::new(), true), of(&HeaderMap::new(), true));
        assert_ne!(a, b);
        assert!(acceptable(&a), "{a}");
    }
}
