//! A login session as Redis keeps it (`P session:{sid}`, see the key
//! layout in `taskmaster_shared::keys`), and the check an access token
//! passes on every request.
//!
//! The record is one space-separated string so that a request reads it in
//! the same `MGET` as the user's credential version and its own data. It
//! holds the digest of the current access secret and of the one before it:
//! a refresh replaces the access token, and requests already under way
//! with the previous one must not fail (a client that then refreshed again
//! would present a rotated refresh token and lose its session). The
//! previous one stays valid only until its own expiry.

use taskmaster_shared::domain::{Role, UserId};

use super::token::Token;

/// A session's record.
#[derive(Debug)]
pub struct Session {
    pub user: UserId,
    /// The credential version it was opened under.
    pub version: u64,
    pub role: Role,
    /// Unix ms until which the current access token is valid.
    pub access_until: u64,
    pub access_digest: String,
    pub previous_until: u64,
    pub previous_digest: String,
    pub refresh_digest: String,
}

impl Session {
    /// The stored text.
    pub fn to_record(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.user.get(),
            self.version,
            self.role.as_str(),
            self.access_until,
            self.access_digest,
            self.previous_until,
            self.previous_digest,
            self.refresh_digest
        )
    }
}

/// The role an access `token` acts with, and the credential version the
/// session was opened under, when the stored `record` admits it at
/// `now_ms`: the token's user, and the current or the previous access
/// digest, each until its expiry. Read in place: every bearer request does
/// this, so it copies nothing.
///
/// The record's existence is what keeps a session alive: a password or
/// role change, a deactivation or a deletion deletes the user's sessions
/// in the same script, so a request about the caller's own data needs no
/// other key. A caller that read the user's version too compares it with
/// the one returned.
pub fn admitted(record: &str, token: &Token, now_ms: u64) -> Option<(Role, u64)> {
    let mut f = record.split(' ');
    let user: u64 = f.next()?.parse().ok()?;
    let opened_under: u64 = f.next()?.parse().ok()?;
    let role = Role::parse(f.next()?).ok()?;
    let access_until: u64 = f.next()?.parse().ok()?;
    let access_digest = f.next()?;
    let previous_until: u64 = f.next()?.parse().ok()?;
    let previous_digest = f.next()?;
    f.next()?;
    if f.next().is_some() || user != token.user.get() {
        return None;
    }
    let live = (now_ms < access_until && token.matches(access_digest))
        || (now_ms < previous_until && token.matches(previous_digest));
    live.then_some((role, opened_under))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::{Kind, mint, new_id};

    fn session_for(access: &str, previous: &str) -> Session {
        Session {
            user: UserId(9),
            version: 3,
            role: Role::GroupAdmin,
            access_until: 2_000,
            access_digest: access.to_owned(),
            previous_until: 1_000,
            previous_digest: previous.to_owned(),
            refresh_digest: "ab".repeat(32),
        }
    }

    #[test]
    fn a_records_text_is_read_back_with_its_role_and_nothing_else_is() {
        let sid = new_id();
        let current = mint(Kind::Access, UserId(9), &sid);
        let token = Token::parse(&current.text).expect("parses");
        let record = session_for(&current.digest, &"ef".repeat(32)).to_record();
        assert_eq!(admitted(&record, &token, 10), Some((Role::GroupAdmin, 3)));
        for bad in ["", "9 3 group_admin", &format!("{record} x")] {
            assert_eq!(admitted(bad, &token, 10), None, "{bad}");
        }
    }

    #[test]
    fn only_a_live_token_of_the_right_user_is_admitted() {
        let sid = new_id();
        let current = mint(Kind::Access, UserId(9), &sid);
        let previous = mint(Kind::Access, UserId(9), &sid);
        let record = session_for(&current.digest, &previous.digest).to_record();
        let token = |m: &crate::auth::token::Minted| Token::parse(&m.text).expect("parses");
        let (cur, prev) = (token(&current), token(&previous));
        // (token, now) → admitted
        let cases = [
            (&cur, 1_999, true),
            (&cur, 2_000, false),
            (&prev, 999, true),
            (&prev, 1_000, false),
        ];
        for (t, now, expected) in cases {
            assert_eq!(admitted(&record, t, now).is_some(), expected, "{now}");
        }
        let stranger = token(&mint(Kind::Access, UserId(10), &sid));
        assert!(admitted(&record, &stranger, 10).is_none());
    }
}
