//! Personal API tokens as Redis keeps them (`P token:{id}`, see
//! [`crate::keys`]): one space-separated string, so that a bearer request
//! reads it in the same `MGET` as the user's credential version and its
//! own data, and syncd writes it behind with the user it belongs to.
//!
//! ```text
//! {user id} {role} {read_only 0|1} {expires ms|0} {digest} {created ms} {last used ms|0} {name}
//! ```
//!
//! The name comes last and may hold spaces. `digest` is the BLAKE2b-256
//! hex of the secret, never the secret. The role is the user's when the
//! token was made: a role change deletes the user's tokens (in the same
//! script), so the role a live token carries is always current.

use crate::domain::Role;

/// Longest token name, in characters.
pub const NAME_MAX_CHARS: usize = 100;

/// One personal token's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub user: u64,
    pub role: Role,
    pub read_only: bool,
    /// Unix ms after which it no longer works; `None`: never expires.
    pub expires_ms: Option<u64>,
    pub digest: String,
    pub created_ms: u64,
    /// Unix ms of its last use (kept to the minute); `None`: never used.
    pub last_used_ms: Option<u64>,
    pub name: String,
}

fn nonzero(n: u64) -> Option<u64> {
    (n > 0).then_some(n)
}

impl TokenRecord {
    /// The stored text.
    pub fn to_record(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.user,
            self.role.as_str(),
            u8::from(self.read_only),
            self.expires_ms.unwrap_or(0),
            self.digest,
            self.created_ms,
            self.last_used_ms.unwrap_or(0),
            self.name
        )
    }

    /// Reads a stored text; `None` unless it has the shape
    /// [`TokenRecord::to_record`] makes.
    pub fn parse(record: &str) -> Option<TokenRecord> {
        let mut f = record.splitn(8, ' ');
        let user = f.next()?.parse().ok()?;
        let role = Role::parse(f.next()?).ok()?;
        let read_only = match f.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let expires_ms = nonzero(f.next()?.parse().ok()?);
        let digest = f.next()?.to_owned();
        let created_ms = f.next()?.parse().ok()?;
        let last_used_ms = nonzero(f.next()?.parse().ok()?);
        let name = f.next()?.to_owned();
        if digest.len() != 64 || name.is_empty() {
            return None;
        }
        Some(TokenRecord {
            user,
            role,
            read_only,
            expires_ms,
            digest,
            created_ms,
            last_used_ms,
            name,
        })
    }

    /// The `(id, record)` pairs of a user's tokens as `SORT P
    /// user:{id}:tokens BY nosort GET # GET P token:*` answers them (what
    /// the api lists and syncd writes behind), keeping those of `user`; an
    /// id whose record is gone or damaged is left out.
    pub fn listed(reply: redis::Value, user: u64) -> Vec<(String, TokenRecord)> {
        let redis::Value::Array(items) = reply else {
            return Vec::new();
        };
        fn text(v: &redis::Value) -> Option<&str> {
            match v {
                redis::Value::BulkString(b) => std::str::from_utf8(b).ok(),
                _ => None,
            }
        }
        items
            .chunks(2)
            .filter_map(|pair| {
                let id = text(pair.first()?)?;
                let record = TokenRecord::parse(text(pair.get(1)?)?)?;
                (record.user == user).then(|| (id.to_owned(), record))
            })
            .collect()
    }

    /// Whether it has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|until| now_ms >= until)
    }
}

/// A token's name as sent: trimmed, 1 to [`NAME_MAX_CHARS`] characters, no
/// control characters (it is shown in lists and logs).
pub fn name(raw: &str) -> Result<String, crate::domain::FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(crate::domain::FieldError::new("name", "is required"));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(crate::domain::FieldError::new(
            "name",
            format!("must be at most {NAME_MAX_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(crate::domain::FieldError::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TokenRecord {
        TokenRecord {
            user: 7,
            role: Role::GroupAdmin,
            read_only: true,
            expires_ms: Some(2_000),
            digest: "ab".repeat(32),
            created_ms: 1_000,
            last_used_ms: None,
            name: "CI deploy  key".into(),
        }
    }

    #[test]
    fn a_record_reads_back_as_itself_with_spaces_in_its_name() {
        let r = record();
        assert_eq!(TokenRecord::parse(&r.to_record()), Some(r.clone()));
        let used = TokenRecord {
            last_used_ms: Some(1_500),
            expires_ms: None,
            read_only: false,
            ..r
        };
        assert_eq!(TokenRecord::parse(&used.to_record()), Some(used));
    }

    #[test]
    fn a_listing_keeps_the_users_intact_records_with_their_ids() {
        let bulk = |s: &str| redis::Value::BulkString(s.as_bytes().to_vec());
        let mine = record().to_record();
        let theirs = TokenRecord {
            user: 8,
            ..record()
        }
        .to_record();
        let reply = redis::Value::Array(vec![
            bulk("a"),
            bulk(&mine),
            bulk("b"),
            bulk(&theirs),
            bulk("c"),
            redis::Value::Nil,
            bulk("d"),
            bulk("7 damaged"),
            bulk("e"),
        ]);
        let listed = TokenRecord::listed(reply, 7);
        assert_eq!(listed, vec![("a".to_owned(), record())]);
        assert!(TokenRecord::listed(redis::Value::Nil, 7).is_empty());
    }

    #[test]
    fn damaged_records_are_refused() {
        let good = record().to_record();
        for bad in [
            String::new(),
            "7 group_admin 1 2000".to_owned(),
            good.replace(" 1 2000", " 2 2000"),
            good.replace("group_admin", "boss"),
            good.replace(&"ab".repeat(32), "abc"),
            good.replace(" CI deploy  key", " "),
        ] {
            assert_eq!(TokenRecord::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn it_expires_at_its_expiry_and_never_without_one() {
        let r = record();
        assert!(!r.expired(1_999));
        assert!(r.expired(2_000));
        assert!(
            !TokenRecord {
                expires_ms: None,
                ..r
            }
            .expired(u64::MAX)
        );
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(name("  deploy ").expect("fine"), "deploy");
        assert_eq!(name(&"é".repeat(100)).expect("fine").chars().count(), 100);
        for bad in ["", "   ", "a\nb", "tab\there", &"x".repeat(101)] {
            let e = name(bad).expect_err(bad);
            assert_eq!(e.field, "name");
        }
    }
}
