//! Human durations: `15m`, `900s`, `1h30m`, `250ms`, or a bare number of
//! seconds. The reference system printed durations the way Go does
//! (`15m0s`), so [`format_go`] renders them that way for compatible answers.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("is empty")]
    Empty,
    #[error("`{0}` is not a duration (use forms like 15m, 900s, 1h30m, 250ms)")]
    Invalid(String),
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Parses `15m`, `900s`, `1h30m`, `1h 30m`, `250ms`, `2d` or a bare number of
/// seconds (`900`).
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let invalid = || DurationError::Invalid(text.to_owned());
    let overflow = || DurationError::Overflow(text.to_owned());
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let value: u128 = rest[..digits].parse().map_err(|_| overflow())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let millis_per_unit: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" | "sec" | "secs" => 1_000,
            "m" | "min" | "mins" => 60_000,
            "h" | "hr" | "hrs" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(millis_per_unit)
            .and_then(|v| v.checked_add(total))
            .ok_or_else(overflow)?;
    }
    let millis = u64::try_from(total).map_err(|_| overflow())?;
    Ok(Duration::from_millis(millis))
}

/// Renders a duration the way Go's `time.Duration.String()` does for whole
/// and fractional seconds: `15m0s`, `1h30m0s`, `5m30.5s`, `0s`.
pub fn format_go(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".to_owned();
    }
    if total_ms < 1_000 {
        return format!("{total_ms}ms");
    }
    let hours = total_ms / 3_600_000;
    let minutes = (total_ms / 60_000) % 60;
    let millis_in_minute = total_ms % 60_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    let secs = millis_in_minute / 1_000;
    let frac = millis_in_minute % 1_000;
    if frac == 0 {
        out.push_str(&format!("{secs}s"));
    } else {
        let frac = format!("{frac:03}");
        out.push_str(&format!("{secs}.{}s", frac.trim_end_matches('0')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_forms() {
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("900s"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("15m0s"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(" 2d "), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert!(parse("15").is_ok());
        assert!(matches!(parse("m15"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("15x"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("-5m"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("1.5h"), Err(DurationError::Invalid(_))));
        assert!(matches!(
            parse("99999999999999999999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go(Duration::from_secs(900)), "15m0s");
        assert_eq!(format_go(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format_go(Duration::from_millis(330_500)), "5m30.5s");
        assert_eq!(format_go(Duration::from_secs(7)), "7s");
        assert_eq!(format_go(Duration::ZERO), "0s");
        assert_eq!(format_go(Duration::from_millis(20)), "20ms");
    }
}
