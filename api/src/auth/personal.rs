//! The check a personal API token passes on every request, against its
//! record (`P token:{id}`, see `taskmaster_shared::api_token`) read in the
//! request's own round trip.
//!
//! Unlike a session, a token is not bound to a credential version: a
//! restore moves every version, and tokens must survive it. A password or
//! role change deletes the user's tokens in the same script instead, and a
//! deactivated user's version is 0, which no token passes.

use taskmaster_shared::api_token::TokenRecord;
use taskmaster_shared::domain::Role;

use super::token::Token;

/// Least time between two marks of a token's last use.
pub const LAST_USED_GAP_MS: u64 = 60_000;

/// What an admitted token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub role: Role,
    pub read_only: bool,
    /// Its use is due to be marked.
    pub mark_used: bool,
}

/// Whether the stored `record` admits `token` at `now_ms`: the token's
/// user, who exists and is active (`version`, its credential version now,
/// is `Some`), the right secret, not expired.
pub fn admitted(
    record: &str,
    token: &Token,
    version: Option<u64>,
    now_ms: u64,
) -> Option<Admitted> {
    let record = TokenRecord::parse(record)?;
    let live = version.is_some_and(|v| v > 0)
        && record.user == token.user.get()
        && !record.expired(now_ms)
        && token.matches(&record.digest);
    live.then(|| Admitted {
        role: record.role,
        read_only: record.read_only,
        mark_used: record
            .last_used_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= LAST_USED_GAP_MS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::{Kind, mint, new_id};
    use taskmaster_shared::domain::UserId;

    #[test]
    fn only_a_live_token_of_an_active_user_is_admitted() {
        let id = new_id();
        let minted = mint(Kind::Personal, UserId(9), &id);
        let token = Token::parse(&minted.text).expect("parses");
        let record = |expires_ms, last_used_ms| {
            TokenRecord {
                user: 9,
                role: Role::User,
                read_only: true,
                expires_ms,
                digest: minted.digest.clone(),
                created_ms: 1,
                last_used_ms,
                name: "ci".into(),
            }
            .to_record()
        };
        // (record, version, now) → admitted, and whether its use is marked
        let cases = [
            (record(None, None), Some(3), 10, Some(true)),
            (record(None, Some(5)), Some(3), 10, Some(false)),
            (record(None, Some(5)), Some(3), 60_005, Some(true)),
            (record(Some(100), None), Some(3), 99, Some(true)),
            (record(Some(100), None), Some(3), 100, None),
            (record(None, None), Some(0), 10, None),
            (record(None, None), None, 10, None),
        ];
        for (r, version, now, expected) in cases {
            let got = admitted(&r, &token, version, now);
            assert_eq!(got.map(|a| a.mark_used), expected, "{r} {version:?} {now}");
            if let Some(a) = got {
                assert!(a.read_only);
                assert_eq!(a.role, Role::User);
            }
        }
        let other = mint(Kind::Personal, UserId(9), &id);
        let wrong_secret = Token::parse(&other.text).expect("parses");
        assert!(admitted(&record(None, None), &wrong_secret, Some(3), 10).is_none());
        let stranger = Token::parse(&mint(Kind::Personal, UserId(10), &id).text).expect("parses");
        assert!(admitted(&record(None, None), &stranger, Some(3), 10).is_none());
    }
}
