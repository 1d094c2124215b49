//! A position in the change log (`P changes`, see [`crate::keys`]): a Redis
//! stream id, `{ms}-{seq}`.
//!
//! Clients hold positions (the `id` of every message, `Last-Event-ID`,
//! `since`, `resume_from`) and hand them back, so they are parsed here once,
//! strictly: two decimal numbers joined by `-`. A bare `{ms}` means
//! `{ms}-0`, as Redis reads it.

use std::fmt;

/// A stream id. Ordered as the log is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub ms: u64,
    pub seq: u64,
}

impl Position {
    /// Before every entry.
    pub const ORIGIN: Position = Position { ms: 0, seq: 0 };

    /// Parses `{ms}-{seq}` or `{ms}`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Position> {
        let (ms, seq) = match text.split_once('-') {
            Some((ms, seq)) => (ms, seq),
            None => (text, "0"),
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(Position {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// As its text (`{ms}-{seq}`), in control messages.
impl serde::Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        Position::parse(&text).ok_or_else(|| serde::de::Error::custom("not a stream position"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_as_redis_writes_them_and_nothing_else() {
        let cases: &[(&str, Option<(u64, u64)>)] = &[
            ("1733390000000-0", Some((1_733_390_000_000, 0))),
            ("5-12", Some((5, 12))),
            ("0-0", Some((0, 0))),
            ("42", Some((42, 0))),
            ("", None),
            ("-", None),
            ("5-", None),
            ("-5", None),
            ("5-5-5", None),
            ("a-1", None),
            (" 5-1", None),
            ("+5-1", None),
            ("99999999999999999999999-0", None),
            ("18446744073709551616-0", None),
        ];
        for (text, want) in cases {
            let got = Position::parse(text).map(|p| (p.ms, p.seq));
            assert_eq!(got, *want, "{text:?}");
        }
    }

    #[test]
    fn positions_order_as_the_log() {
        let a = Position::parse("5-9").expect("valid");
        let b = Position::parse("5-10").expect("valid");
        let c = Position::parse("6-0").expect("valid");
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "5-10");
    }
}
