//! Domain values, parsed once at the edge.
//!
//! Each type's `parse` is the only way to build it from client input, and
//! its error names the field, so handlers never re-validate. Rules:
//!
//! | value | rule |
//! |---|---|
//! | ids | positive decimal integers (`UserId::parse`) |
//! | role | `owner`, `group_admin` or `user` |
//! | priority | 1 (high), 2 (medium, the default), 3 (low) |
//! | deadline | a real calendar date `YYYY-MM-DD`, or `""` for none; past dates allowed |
//! | work_times | keys Monday..Sunday (any case), hours 0..=24, at most 7 entries |
//! | email | `local@domain.tld` syntax, at most 254 characters; compared case-insensitively |
//! | title | 1..=255 characters, not blank |
//! | information | at most 5000 characters |
//! | full_name | 1..=255 characters, not blank |
//! | group name | 1..=100 characters, not blank |
//! | number | at most 64 characters |
//! | state | `todo`, `in_progress` or `done` (`status` is derived: true exactly when `done`) |
//! | labels | 1..=50 characters each, no control characters, no leading or trailing white space; at most 20 per task, a set in byte order |
//!
//! Lengths count Unicode scalar values. Text is stored exactly as sent (no
//! trimming or normalisation), so any Unicode content round-trips byte-exact.

use std::fmt;

mod task_fields;
mod work_times;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize, Serializer};

pub use task_fields::{LABEL_MAX, LABELS_MAX, Label, Labels, TaskState};
pub use work_times::{Weekday, WorkTimes};

/// A value that is well-formed JSON but breaks a rule: answered 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// Parses a positive decimal id (no sign, at most 19 digits).
pub fn parse_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n > 0)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            pub fn parse(s: &str) -> Option<Self> {
                parse_id(s).map($name)
            }
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A group's id.
    GroupId
);
id_type!(
    /// A task's id.
    TaskId
);

/// The three roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    GroupAdmin,
    User,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, FieldError> {
        match s {
            "owner" => Ok(Role::Owner),
            "group_admin" => Ok(Role::GroupAdmin),
            "user" => Ok(Role::User),
            _ => Err(FieldError::new(
                "role",
                "Invalid role. Must be 'user', 'group_admin', or 'owner'",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::GroupAdmin => "group_admin",
            Role::User => "user",
        }
    }
}

impl utoipa::PartialSchema for Role {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["owner", "group_admin", "user"]))
            .description(Some("The user's role"))
            .into()
    }
}

impl utoipa::ToSchema for Role {}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// 1 high, 2 medium, 3 low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    /// The priority of a task created without one.
    pub const DEFAULT: Priority = Priority(2);
    /// The bounds of a valid priority: 1 (high) to 3 (low).
    pub const HIGHEST: i64 = 1;
    pub const LOWEST: i64 = 3;

    pub fn parse(n: i64) -> Result<Priority, FieldError> {
        match n {
            n if (Self::HIGHEST..=Self::LOWEST).contains(&n) => Ok(Priority(n as u8)),
            _ => Err(FieldError::new(
                "priority",
                "must be 1 (high), 2 (medium) or 3 (low)",
            )),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A task's deadline: a calendar date or none (`""` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(pub Option<NaiveDate>);

impl Deadline {
    /// `""` means no deadline; otherwise exactly `YYYY-MM-DD`, a real date.
    pub fn parse(s: &str) -> Result<Deadline, FieldError> {
        if s.is_empty() {
            return Ok(Deadline(None));
        }
        let b = s.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok {
            return Err(FieldError::new(
                "deadline",
                "must be a date in the form YYYY-MM-DD",
            ));
        }
        // The shape is checked: plain digit arithmetic, not a format
        // string interpreted on every task written.
        let number = |range: std::ops::Range<usize>| {
            b[range]
                .iter()
                .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'))
        };
        NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10))
            .map(|d| Deadline(Some(d)))
            .ok_or_else(|| FieldError::new("deadline", format!("{s} is not a calendar date")))
    }

    pub fn as_wire(&self) -> String {
        self.0
            .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
            .unwrap_or_default()
    }
}

/// Checks a text field's length in characters; `required` text may not be
/// blank, and no text may hold U+0000: PostgreSQL's `text` cannot store it,
/// so such a row could never be written behind (and would hold up every
/// flush after it). Returns the text unchanged.
pub fn text(
    field: &'static str,
    value: &str,
    required: bool,
    max: usize,
) -> Result<String, FieldError> {
    let count = value.chars().count();
    if required && value.trim().is_empty() {
        return Err(FieldError::new(field, "is required and must not be blank"));
    }
    if count > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters (got {count})"),
        ));
    }
    if value.contains('\0') {
        return Err(FieldError::new(
            field,
            "must not contain the NUL character (U+0000)",
        ));
    }
    Ok(value.to_owned())
}

/// The longest text of each field, in characters (the OpenAPI schemas
/// state the same limits).
pub const TITLE_MAX: usize = 255;
pub const INFORMATION_MAX: usize = 5000;
pub const FULL_NAME_MAX: usize = 255;
pub const GROUP_NAME_MAX: usize = 100;
pub const NUMBER_MAX: usize = 64;
pub const EMAIL_MAX: usize = 254;

pub fn title(v: &str) -> Result<String, FieldError> {
    text("title", v, true, TITLE_MAX)
}
pub fn information(v: &str) -> Result<String, FieldError> {
    text("information", v, false, INFORMATION_MAX)
}
pub fn full_name(v: &str) -> Result<String, FieldError> {
    text("full_name", v, true, FULL_NAME_MAX)
}
pub fn group_name(v: &str) -> Result<String, FieldError> {
    text("name", v, true, GROUP_NAME_MAX)
}
pub fn number(v: &str) -> Result<String, FieldError> {
    text("number", v, false, NUMBER_MAX)
}

/// An email address as given, with its case-folded key for lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub value: String,
    pub key: String,
}

impl Email {
    pub fn parse(s: &str) -> Result<Email, FieldError> {
        let bad = |why: &str| FieldError::new("email", why.to_owned());
        if s.chars().count() > EMAIL_MAX {
            return Err(bad("must be at most 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(bad("is not a valid email address"));
        };
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"()<>[]\\,;:@\"".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.chars().count() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if !(local_ok && domain_ok) {
            return Err(bad("is not a valid email address"));
        }
        Ok(Email {
            value: s.to_owned(),
            key: Self::key_of(s),
        })
    }

    /// The lookup key of an address: case-folded, so `Ann@X.com` and
    /// `ann@x.com` are the same account.
    pub fn key_of(s: &str) -> String {
        s.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_decimal_integers() {
        assert_eq!(UserId::parse("42"), Some(UserId(42)));
        // Nineteen digits is the most an id has, though twenty fit a u64.
        assert_eq!(
            UserId::parse("1234567890123456789"),
            Some(UserId(1_234_567_890_123_456_789))
        );
        for bad in [
            "10000000000000000000",
            "0",
            "-1",
            "+1",
            "abc",
            "",
            "1.0",
            " 1",
            "99999999999999999999",
        ] {
            assert_eq!(UserId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn roles_parse_exactly() {
        assert_eq!(Role::parse("group_admin"), Ok(Role::GroupAdmin));
        assert!(Role::parse("Owner").is_err());
        assert!(Role::parse("admin").is_err());
    }

    #[test]
    fn priorities_are_one_to_three() {
        assert!(Priority::parse(1).is_ok());
        assert!(Priority::parse(3).is_ok());
        for bad in [0, 4, -1, 100] {
            let e = Priority::parse(bad).expect_err("out of range");
            assert_eq!(e.field, "priority");
        }
    }

    #[test]
    fn deadlines_must_be_real_dates() {
        assert_eq!(Deadline::parse("").expect("empty is none"), Deadline(None));
        assert_eq!(
            Deadline::parse("2024-02-29").expect("leap day").as_wire(),
            "2024-02-29"
        );
        assert_eq!(
            Deadline::parse("1999-01-01")
                .expect("past allowed")
                .as_wire(),
            "1999-01-01"
        );
        assert_eq!(
            Deadline::parse("0042-03-04")
                .expect("zero-padded")
                .as_wire(),
            "0042-03-04"
        );
        for bad in [
            "2023-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-04-31",
            "2025-01-00",
            "2025-1-5",
            "tomorrow",
            "2025/01/05",
            // One separator right, the other not; and strings too short to
            // hold a separator at all (the shape check must not index them).
            "2025-01x05",
            "2025x01-05",
            "2025",
            "1",
            "2025-01-05T00:00:00Z",
            "+2025-01-05",
        ] {
            assert!(Deadline::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_need_a_plausible_shape() {
        let e = Email::parse("Ann.Lee@Example.COM").expect("valid");
        assert_eq!(e.key, "ann.lee@example.com");
        assert_eq!(e.value, "Ann.Lee@Example.COM");
        assert!(Email::parse("josé@dömain.de").is_ok());
        assert!(Email::parse("ann@my-host.example.org").is_ok());
        // 254 characters at most, each part within its own limit.
        let longest = format!(
            "{}@{}.{}.{}",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(longest.len(), 254);
        assert!(Email::parse(&longest).is_ok());
        let e = Email::parse(&format!("{longest}d")).expect_err("255 characters");
        assert_eq!(e.message, "must be at most 254 characters");
        for bad in [
            "a@x_y.com",
            "",
            "plain",
            "a@b",
            "@x.com",
            "a@.com",
            "a b@x.com",
            "a@x..com",
            "a@-x.com",
            "a@x.123",
            ".a@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_lengths_count_characters_not_bytes() {
        assert!(title(&"é".repeat(255)).is_ok());
        assert!(title(&"é".repeat(256)).is_err());
        assert!(title("   ").is_err());
        assert!(information("").is_ok());
        assert!(information(&"x".repeat(5001)).is_err());
        assert!(group_name(&"g".repeat(101)).is_err());
        assert_eq!(title(" spaced ").expect("kept"), " spaced ");
    }

    #[test]
    fn no_text_holds_a_nul_character() {
        for check in [title, information, full_name, group_name, number] {
            assert!(check("a\0b").is_err());
            assert!(check("a\u{1}b\u{7f}").is_ok(), "other controls are text");
        }
    }
}
