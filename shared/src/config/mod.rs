//! Typed configuration for both processes, read once from the environment.
//!
//! Every variable is parsed and checked before anything starts, and all the
//! problems are reported together (a daemon that fails on the first bad
//! variable costs an operator one restart per typo). The binaries exit with
//! code 64 (`EX_USAGE`) when [`ApiConfig::from_env`] or
//! [`SyncdConfig::from_env`] fails.
//!
//! Defaults are compatible with the reference system (port 7890, Redis on
//! 6380, PostgreSQL on 5433, owner `admin@gmail.com` / `admin1234`). The
//! default owner password is announced with a loud warning, and refused
//! outright when `APP_ENV=production`.
//!
//! Secrets are held in [`Secret`], whose `Debug` output is redacted, so a
//! config can be logged without leaking them.
//!
//! [`stores`] holds where Redis and PostgreSQL are, [`accounts`] the
//! api's session and registration settings, [`observability`] metrics
//! and request ids, [`processes`] each process's
//! configuration; this module the reading of variables.

mod accounts;
mod observability;
mod processes;
mod stores;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::duration;

/// The exit code for a bad configuration (`EX_USAGE` from `sysexits.h`).
pub const EXIT_BAD_CONFIG: i32 = 64;

/// The reference system's owner password, accepted only outside production.
pub const DEFAULT_OWNER_PASSWORD: &str = "admin1234";
/// The reference system's owner email.
pub const DEFAULT_OWNER_EMAIL: &str = "admin@gmail.com";

/// A string that must never appear in logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Every problem found in the environment, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// `APP_ENV`: production refuses default secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

impl AppEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Development => "development",
            AppEnv::Production => "production",
        }
    }
}

impl FromStr for AppEnv {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" | "test" => Ok(AppEnv::Development),
            "production" | "prod" => Ok(AppEnv::Production),
            _ => Err("must be `development` or `production`".into()),
        }
    }
}

/// `LOG_FORMAT`: human-readable text (default) or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "pretty" | "plain" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be `text` or `json`".into()),
        }
    }
}

pub use accounts::{AccountsConfig, Rate, Registration};
pub use observability::MetricsConfig;
pub use processes::{
    ApiConfig, FeedConfig, ImportLimits, ListLimits, SyncdConfig, SyncdFault, WebhookConfig,
};
pub use stores::{DEFAULT_CONTROL_SECRET, PostgresConfig, RedisConfig};

/// Reads variables and collects the problems instead of stopping at the first.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl<'a> Env<'a> {
    fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env {
            lookup,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, name: &str, what: &str) {
        self.problems.push(format!("{name} {what}"));
    }

    /// The variable, or `None` when unset or empty.
    fn opt(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.opt(name).unwrap_or_else(|| default.to_owned())
    }

    fn parse<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.opt(name) {
            None => default,
            Some(raw) => match raw.trim().parse() {
                Ok(v) => v,
                Err(e) => {
                    self.problem(name, &format!("= `{raw}` is invalid: {e}"));
                    default
                }
            },
        }
    }

    fn parse_in<T>(&mut self, name: &str, default: T, range: std::ops::RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let value = self.parse(name, default);
        if !range.contains(&value) {
            self.problem(
                name,
                &format!(
                    "= {value} is out of range {}..={}",
                    range.start(),
                    range.end()
                ),
            );
        }
        value
    }

    fn port(&mut self, name: &str, default: u16) -> u16 {
        let port = self.parse(name, default);
        if port == 0 {
            self.problem(name, "must be a port number from 1 to 65535");
        }
        port
    }

    fn duration(&mut self, name: &str, default: Duration) -> Duration {
        match self.opt(name) {
            None => default,
            Some(raw) => duration::parse(&raw).unwrap_or_else(|e| {
                self.problem(name, &format!("{e}"));
                default
            }),
        }
    }

    fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// A loose syntactic check for configuration values; request bodies get the
/// stricter validation of the domain types.
fn is_plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn quote_kv(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

/// Removes `user:password@` from a URL.
fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // The user and password before the host go.
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://{}", &base[..scheme_end], &base[at + 1..])
        }
        _ => base.to_owned(),
    };
    // So do the values of query parameters that carry a secret
    // (`?pass=…`, `password=…`, `sslpassword=…`, a token or a key); the
    // others (`db=2`, `sslmode=…`) stay, they say where it connects.
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| {
                let (name, _) = param.split_once('=').unwrap_or((param, ""));
                let lower = name.to_ascii_lowercase();
                let secret = ["pass", "secret", "token", "key", "auth"]
                    .iter()
                    .any(|s| lower.contains(s));
                if secret {
                    format!("{name}=***")
                } else {
                    param.to_owned()
                }
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Whether a secret is an example's placeholder (`change-me…`, `changeme`,
/// `replace-me`, `placeholder`, `your-password`, …) rather than a real one:
/// refused in production, where a copied example file must not run.
pub(crate) fn is_placeholder(secret: &str) -> bool {
    let folded: String = secret
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    [
        "changeme",
        "replaceme",
        "placeholder",
        "yourpassword",
        "yoursecret",
        "examplesecret",
        "examplepassword",
    ]
    .iter()
    .any(|p| folded.contains(p))
}

/// The secrets a connection URL carries: its password (`user:pw@`) and the
/// values of secret-looking query parameters.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = Vec::new();
    if let (Some(scheme_end), Some(at)) = (base.find("://"), base.rfind('@'))
        && at > scheme_end
        && let Some((_, password)) = base[scheme_end + 3..at].split_once(':')
    {
        out.push(password.to_owned());
    }
    for param in query.split('&') {
        if let Some((name, value)) = param.split_once('=')
            && name.to_ascii_lowercase().contains("pass")
        {
            out.push(value.to_owned());
        }
    }
    out
}

/// Builds a lookup from pairs, for tests.
pub fn lookup_from_pairs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference_system() {
        let c = ApiConfig::from_lookup(lookup_from_pairs(&[])).expect("defaults are valid");
        assert_eq!(c.port, 7890);
        assert_eq!(c.redis.port, 6380);
        assert_eq!(c.redis.host, "localhost");
        assert_eq!(c.owner_email, "admin@gmail.com");
        assert!(c.uses_default_owner_password());
        assert_eq!(c.list_cache_bytes, 64 << 20);
        let s = SyncdConfig::from_lookup(lookup_from_pairs(&[])).expect("defaults are valid");
        assert_eq!(s.postgres.port, 5433);
        assert_eq!(s.postgres.dbname, "taskmaster");
        assert_eq!(s.sync_interval, Duration::from_secs(900));
    }

    #[test]
    fn every_bad_variable_is_reported_at_once() {
        let err = ApiConfig::from_lookup(lookup_from_pairs(&[
            ("SERVER_PORT", "seventy"),
            ("REDIS_PORT", "0"),
            ("REQUEST_TIMEOUT", "soon"),
            ("LOG_FORMAT", "xml"),
            ("LIST_CACHE_MB", "-1"),
        ]))
        .expect_err("five bad variables");
        assert_eq!(err.problems.len(), 5, "{err}");
        let text = err.to_string();
        for name in [
            "SERVER_PORT",
            "REDIS_PORT",
            "REQUEST_TIMEOUT",
            "LOG_FORMAT",
            "LIST_CACHE_MB",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }

    #[test]
    fn production_refuses_the_default_owner_password() {
        let err = ApiConfig::from_lookup(lookup_from_pairs(&[("APP_ENV", "production")]))
            .expect_err("default secret in production");
        assert!(err.to_string().contains("OWNER_PASSWORD"));
        let ok = ApiConfig::from_lookup(lookup_from_pairs(&[
            ("APP_ENV", "production"),
            ("OWNER_PASSWORD", "a-long-and-real-secret"),
            ("CONTROL_SECRET", "a-real-control-s3cr3t"),
        ]));
        assert!(ok.is_ok());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = ApiConfig::from_lookup(lookup_from_pairs(&[
            ("OWNER_PASSWORD", "hunter2-very-secret"),
            ("REDIS_PASSWORD", "redis-secret"),
        ]))
        .expect("valid");
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("redis-secret"), "{text}");
    }

    #[test]
    fn production_refuses_placeholder_secrets_in_every_variable() {
        fn prod(vars: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
            let mut all = vec![
                ("APP_ENV", "production"),
                ("OWNER_PASSWORD", "a-real-Owner-s3cr3t-x"),
                ("CONTROL_SECRET", "a-real-control-s3cr3t"),
            ];
            all.extend_from_slice(vars);
            all
        }
        for (vars, named) in [
            (
                vec![("OWNER_PASSWORD", "change-me-to-a-long-random-secret")],
                "OWNER_PASSWORD",
            ),
            (
                vec![("REDIS_URL", "redis://:changeme@127.0.0.1:6379/0")],
                "REDIS_URL",
            ),
            (
                vec![("REDIS_URL", "unix:///run/r.sock?pass=change-me")],
                "REDIS_URL",
            ),
            (vec![("REDIS_PASSWORD", "Change_Me")], "REDIS_PASSWORD"),
            (
                vec![("CONTROL_SECRET", "change-me-dev-control-secret")],
                "CONTROL_SECRET",
            ),
        ] {
            let e = ApiConfig::from_lookup(lookup_from_pairs(&prod(&vars)))
                .expect_err("a placeholder in production");
            assert!(e.to_string().contains(named), "{vars:?}: {e}");
        }
        for (vars, named) in [
            (
                vec![("DATABASE_URL", "postgres://tm:change-me@127.0.0.1:5432/tm")],
                "DATABASE_URL",
            ),
            (
                vec![("POSTGRES_PASSWORD", "placeholder")],
                "POSTGRES_PASSWORD",
            ),
        ] {
            let e = SyncdConfig::from_lookup(lookup_from_pairs(&prod(&vars)))
                .expect_err("a placeholder in production");
            assert!(e.to_string().contains(named), "{vars:?}: {e}");
        }
        // Real secrets pass, and placeholders pass outside production.
        ApiConfig::from_lookup(lookup_from_pairs(&prod(&[(
            "REDIS_URL",
            "redis://:Xk3-9fQ-2mW@127.0.0.1:6379/0",
        )])))
        .expect("real secrets");
        SyncdConfig::from_lookup(lookup_from_pairs(&[(
            "DATABASE_URL",
            "postgres://tm:change-me@127.0.0.1:5432/tm",
        )]))
        .expect("development accepts it");
    }

    #[test]
    fn urls_are_redacted_for_display() {
        assert_eq!(redact_url("redis://:pw@host:6380/0"), "redis://host:6380/0");
        assert_eq!(
            redact_url("postgres://u:p@h:5433/db"),
            "postgres://h:5433/db"
        );
        assert_eq!(redact_url("redis://host:6380"), "redis://host:6380");
        for (url, shown) in [
            (
                "unix:///run/redis.sock?db=2&pass=s3cr3t",
                "unix:///run/redis.sock?db=2&pass=***",
            ),
            (
                "postgres://h/db?sslmode=require&password=s3cr3t&sslpassword=s3cr3t",
                "postgres://h/db?sslmode=require&password=***&sslpassword=***",
            ),
            (
                "redis://u:s3cr3t@h:1/0?protocol=resp3&AUTH_TOKEN=s3cr3t",
                "redis://h:1/0?protocol=resp3&AUTH_TOKEN=***",
            ),
            // An `@` in the query is no user part.
            ("redis://h:1/0?x=a@b", "redis://h:1/0?x=a@b"),
        ] {
            let got = redact_url(url);
            assert_eq!(got, shown, "{url}");
            assert!(!got.contains("s3cr3t"));
        }
    }

    #[test]
    fn sync_interval_accepts_human_forms() {
        for (raw, secs) in [("15m", 900), ("900s", 900), ("1h", 3600), ("30", 30)] {
            let c = SyncdConfig::from_lookup(lookup_from_pairs(&[("SYNC_INTERVAL", raw)]))
                .expect("valid");
            assert_eq!(c.sync_interval, Duration::from_secs(secs));
        }
        assert!(SyncdConfig::from_lookup(lookup_from_pairs(&[("SYNC_INTERVAL", "0s")])).is_err());
    }

    #[test]
    fn connection_string_quotes_values() {
        let c = SyncdConfig::from_lookup(lookup_from_pairs(&[("POSTGRES_PASSWORD", "it's")]))
            .expect("valid");
        let s = c.postgres.connection_string();
        assert!(s.expose().contains(r"password='it\'s'"), "{}", s.expose());
    }
}
