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
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// Reads a stored record; `None` when it is not one.
    pub fn parse(record: &str) -> Option<Session> {
        let mut f = record.split(' ');
        let mut next = || f.next();
        let session = Session {
            user: UserId(next()?.parse().ok()?),
            version: next()?.parse().ok()?,
            role: Role::parse(next()?).ok()?,
            access_until: next()?.parse().ok()?,
            access_digest: next()?.to_owned(),
            previous_until: next()?.parse().ok()?,
            previous_digest: next()?.to_owned(),
            refresh_digest: next()?.to_owned(),
        };
        next().is_none().then_some(session)
    }

    /// The role an access `token` acts with, when this record admits it
    /// at `now_ms`, given the user's credential version now (`None`: the
    /// user is gone or deactivated).
    pub fn admits(&self, token: &Token, version: Option<u64>, now_ms: u64) -> Option<Role> {
        let current = now_ms < self.access_until && token.matches(&self.access_digest);
        let previous = now_ms < self.previous_until && token.matches(&self.previous_digest);
        (self.user == token.user && version == Some(self.version) && (current || previous))
            .then_some(self.role)
    }
}

/// [`Session::parse`] then [`Session::admits`], reading the stored text in
/// place: what every bearer request does, so it copies nothing.
pub fn admitted(record: &str, token: &Token, version: Option<u64>, now_ms: u64) -> Option<Role> {
    let mut f = record.split(' ');
    let user: u64 = f.next()?.parse().ok()?;
    let opened_under: u64 = f.next()?.parse().ok()?;
    let role = Role::parse(f.next()?).ok()?;
    let access_until: u64 = f.next()?.parse().ok()?;
    let access_digest = f.next()?;
    let previous_until: u64 = f.next()?.parse().ok()?;
    let previous_digest = f.next()?;
    f.next()?;
    if f.next().is_some() || user != token.user.get() || version != Some(opened_under) {
        return None;
    }
    let live = (now_ms < access_until && token.matches(access_digest))
        || (now_ms < previous_until && token.matches(previous_digest));
    live.then_some(role)
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
    fn a_record_round_trips_through_its_text() {
        let s = session_for(&"cd".repeat(32), &"ef".repeat(32));
        assert_eq!(Session::parse(&s.to_record()), Some(s.clone()));
        for bad in ["", "9 3 group_admin", &format!("{} x", s.to_record())] {
            assert_eq!(Session::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_a_live_token_of_the_right_user_and_version_is_admitted() {
        let sid = new_id();
        let current = mint(Kind::Access, UserId(9), &sid);
        let previous = mint(Kind::Access, UserId(9), &sid);
        let s = session_for(&current.digest, &previous.digest);
        let token = |m: &crate::auth::token::Minted| Token::parse(&m.text).expect("parses");
        let (cur, prev) = (token(&current), token(&previous));
        // (token, user version, now) → admitted
        let cases = [
            (&cur, Some(3), 1_999, true),
            (&cur, Some(3), 2_000, false),
            (&cur, Some(4), 10, false),
            (&cur, None, 10, false),
            (&prev, Some(3), 999, true),
            (&prev, Some(3), 1_000, false),
        ];
        for (t, version, now, admitted) in cases {
            assert_eq!(
                s.admits(t, version, now).is_some(),
                admitted,
                "{version:?} {now}"
            );
        }
        let stranger = token(&mint(Kind::Access, UserId(10), &sid));
        assert!(s.admits(&stranger, Some(3), 10).is_none());
        // The in-place reading agrees with the parsed one.
        let record = s.to_record();
        for (t, version, now, _) in cases
            .iter()
            .copied()
            .chain([(&stranger, Some(3), 10, false)])
        {
            assert_eq!(
                admitted(&record, t, version, now),
                s.admits(t, version, now)
            );
        }
        assert_eq!(
            admitted(&format!("{record} extra"), &cur, Some(3), 10),
            None
        );
    }
}
