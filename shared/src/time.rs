//! Timestamps on the wire.
//!
//! Entity timestamps are RFC 3339 in UTC with up to microsecond precision
//! (what PostgreSQL's `timestamptz` keeps, so a value survives the round
//! trip through syncd unchanged). `/health` uses whole seconds, like the
//! reference system.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, truncated to microseconds so that Redis and PostgreSQL agree.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// `2025-09-29T10:00:00.123456Z` (trailing zeros of the fraction trimmed).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    let s = t.to_rfc3339_opts(SecondsFormat::Micros, true);
    trim_fraction(s)
}

/// `2025-09-29T10:00:00Z`.
pub fn rfc3339_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn trim_fraction(s: String) -> String {
    // "…:00.120000Z" -> "…:00.12Z"; "…:00.000000Z" -> "…:00Z"
    match s.rfind('.') {
        Some(dot) if s.ends_with('Z') => {
            let frac = s[dot + 1..s.len() - 1].trim_end_matches('0');
            if frac.is_empty() {
                format!("{}Z", &s[..dot])
            } else {
                format!("{}.{}Z", &s[..dot], frac)
            }
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_trailing_zeros_of_the_fraction() {
        let t = DateTime::parse_from_rfc3339("2025-09-29T10:00:00.120000Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(rfc3339(t), "2025-09-29T10:00:00.12Z");
        let t = DateTime::parse_from_rfc3339("2025-09-29T10:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(rfc3339(t), "2025-09-29T10:00:00Z");
        assert_eq!(rfc3339_seconds(t), "2025-09-29T10:00:00Z");
    }

    #[test]
    fn now_has_microsecond_precision() {
        let t = now_micros();
        assert_eq!(t.timestamp_subsec_nanos() % 1_000, 0);
    }
}
