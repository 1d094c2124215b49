//! The accounts settings of the api: login session lifetimes and
//! self-registration.
//!
//! * `ACCESS_TOKEN_TTL` (default 15m): how long an access token opens
//!   requests; clients refresh it before then.
//! * `REFRESH_TOKEN_TTL` (default 30d): how long a session lives without a
//!   refresh; each refresh starts it afresh.
//! * `REGISTRATION`: `off` (the default: `POST /auth/register` is 403),
//!   `open`, or `domain:example.com,example.org` (only emails at those
//!   domains).
//! * `REGISTRATION_GROUP_ID`: a group every registered user joins, so that
//!   it can create tasks at once; checked when a registration happens (the
//!   group may be created after the api starts).
//! * `SESSION_COOKIES` (default `false`): whether `POST /auth/login` sets
//!   the session as cookies when the request does not say (`?cookie=`).
//! * `COOKIE_SECURE` (default: `true` when `APP_ENV=production`): the
//!   session cookies' `Secure` attribute (HTTPS only).
//! * `RATE_LIMIT_PER_MINUTE` (default 1200; 0 turns it off) and
//!   `RATE_LIMIT_BURST` (default 200): each principal's (a user, or the
//!   owner header) sustained rate and how many requests it may send at once.
//!   Seed 001's limit is `RATE_LIMIT_PER_MINUTE=100`.
//! * `RATE_LIMIT_AUTH_PER_MINUTE` (default 60) and `RATE_LIMIT_AUTH_BURST`
//!   (default 20): the stricter limit per client address on
//!   `/auth/login`, `/auth/register` and `/auth/refresh`; always on.

use std::time::Duration;

use super::Env;

/// Who may register an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Off,
    Open,
    /// Only emails at one of these domains (lower case).
    Domains(Vec<String>),
}

impl Registration {
    fn parse(raw: &str) -> Result<Registration, String> {
        let raw = raw.trim();
        match raw.to_ascii_lowercase().as_str() {
            "off" => return Ok(Registration::Off),
            "open" => return Ok(Registration::Open),
            _ => {}
        }
        let Some(list) = raw
            .get(..7)
            .filter(|head| head.eq_ignore_ascii_case("domain:"))
            .map(|_| &raw[7..])
        else {
            return Err(format!("= `{raw}` is not off, open or domain:<d1,d2,...>"));
        };
        let mut domains = Vec::new();
        for d in list.split(',').map(str::trim) {
            let valid = d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !valid {
                return Err(format!("names `{d}`, which is not a domain"));
            }
            domains.push(d.to_ascii_lowercase());
        }
        Ok(Registration::Domains(domains))
    }

    /// Whether an account with this (already validated) email may register.
    pub fn admits(&self, email: &str) -> bool {
        match self {
            Registration::Off => false,
            Registration::Open => true,
            Registration::Domains(domains) => email
                .rsplit_once('@')
                .is_some_and(|(_, d)| domains.iter().any(|ok| d.eq_ignore_ascii_case(ok))),
        }
    }
}

/// A rate: so many requests a minute, so many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

/// The accounts settings.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub registration: Registration,
    pub registration_group_id: Option<u64>,
    /// Every principal's rate; `None` when turned off.
    pub rate: Option<Rate>,
    /// The account endpoints' rate per client address.
    pub auth_rate: Rate,
    /// Logins set cookies unless asked not to.
    pub session_cookies: bool,
    /// The cookies' `Secure` attribute.
    pub cookie_secure: bool,
}

impl AccountsConfig {
    pub(super) fn from_env(env: &mut Env<'_>, production: bool) -> AccountsConfig {
        let access_token_ttl = env.duration("ACCESS_TOKEN_TTL", Duration::from_secs(15 * 60));
        let refresh_token_ttl =
            env.duration("REFRESH_TOKEN_TTL", Duration::from_secs(30 * 24 * 3600));
        if access_token_ttl < Duration::from_secs(1) {
            env.problem("ACCESS_TOKEN_TTL", "must be at least 1s");
        }
        if refresh_token_ttl < access_token_ttl {
            env.problem(
                "REFRESH_TOKEN_TTL",
                "must be at least ACCESS_TOKEN_TTL (a session outlives its access tokens)",
            );
        }
        let registration = match env.opt("REGISTRATION") {
            None => Registration::Off,
            Some(raw) => Registration::parse(&raw).unwrap_or_else(|problem| {
                env.problem("REGISTRATION", &problem);
                Registration::Off
            }),
        };
        let registration_group_id = match env.opt("REGISTRATION_GROUP_ID") {
            None => None,
            Some(raw) => match crate::domain::parse_id(raw.trim()) {
                Some(id) => Some(id),
                None => {
                    env.problem(
                        "REGISTRATION_GROUP_ID",
                        "must be a group id (a positive integer)",
                    );
                    None
                }
            },
        };
        let per_minute = env.parse_in("RATE_LIMIT_PER_MINUTE", 1_200u32, 0..=10_000_000);
        let burst = env.parse_in("RATE_LIMIT_BURST", 200u32, 1..=10_000_000);
        let auth_rate = Rate {
            per_minute: env.parse_in("RATE_LIMIT_AUTH_PER_MINUTE", 60u32, 1..=1_000_000),
            burst: env.parse_in("RATE_LIMIT_AUTH_BURST", 20u32, 1..=1_000_000),
        };
        AccountsConfig {
            access_token_ttl,
            refresh_token_ttl,
            registration,
            registration_group_id,
            rate: (per_minute > 0).then_some(Rate { per_minute, burst }),
            auth_rate,
            session_cookies: env.parse("SESSION_COOKIES", false),
            cookie_secure: env.parse("COOKIE_SECURE", production),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_modes_parse_or_name_the_problem() {
        assert_eq!(Registration::parse("off"), Ok(Registration::Off));
        assert_eq!(Registration::parse(" OPEN "), Ok(Registration::Open));
        assert_eq!(
            Registration::parse("domain:Example.com, corp.example.org"),
            Ok(Registration::Domains(vec![
                "example.com".into(),
                "corp.example.org".into()
            ]))
        );
        for bad in [
            "",
            "closed",
            "domain:",
            "domain:localhost",
            "domain:a.com,,b.com",
            "domain:.a.com",
        ] {
            assert!(Registration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_domain_list_admits_only_its_domains_exactly() {
        let r = Registration::parse("domain:example.com").expect("parses");
        assert!(r.admits("ann@example.com"));
        assert!(r.admits("ann@EXAMPLE.com"));
        assert!(!r.admits("ann@sub.example.com"));
        assert!(!r.admits("ann@example.com.evil.org"));
        assert!(!Registration::Off.admits("ann@example.com"));
        assert!(Registration::Open.admits("ann@anything.org"));
    }
}
