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

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
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

/// Where Redis is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`, when given, wins over the separate variables.
    pub url: Option<Secret>,
    pub host: String,
    pub port: u16,
    pub password: Secret,
    pub db: i64,
    /// Prefix of every key and channel (`REDIS_KEY_PREFIX`, default `tm:`),
    /// so that several deployments (or test cases) can share one server.
    pub key_prefix: String,
    pub pool_size: u32,
    /// How long to wait for a connection or a reply before giving up.
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// How long a request may wait for a free pooled connection.
    pub pool_timeout: Duration,
}

impl RedisConfig {
    /// `host:port` (never the password), for logs and status answers.
    pub fn display_addr(&self) -> String {
        match &self.url {
            Some(url) => redact_url(url.expose()),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    fn from_env(env: &mut Env<'_>) -> Self {
        let url = env.opt("REDIS_URL").map(Secret::new);
        if let Some(url) = &url
            && !(url.expose().starts_with("redis://")
                || url.expose().starts_with("rediss://")
                || url.expose().starts_with("unix://"))
        {
            env.problem(
                "REDIS_URL",
                "must start with redis://, rediss:// or unix://",
            );
        }
        let key_prefix = env.string("REDIS_KEY_PREFIX", "tm:");
        // Key patterns (`SORT … GET P task:*`, operators' SCAN) embed the
        // prefix, so it may not hold pattern characters.
        if !key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'))
        {
            env.problem(
                "REDIS_KEY_PREFIX",
                "may only contain ASCII letters, digits and : _ . -",
            );
        }
        RedisConfig {
            url,
            host: env.string("REDIS_HOST", "localhost"),
            port: env.port("REDIS_PORT", 6380),
            password: Secret::new(env.string("REDIS_PASSWORD", "")),
            db: env.parse_in("REDIS_DB", 0i64, 0..=i64::from(u16::MAX)),
            key_prefix,
            pool_size: env.parse_in("REDIS_POOL_SIZE", 4u32, 1..=1024),
            connect_timeout: env.duration("REDIS_CONNECT_TIMEOUT", Duration::from_secs(2)),
            response_timeout: env.duration("REDIS_RESPONSE_TIMEOUT", Duration::from_secs(5)),
            pool_timeout: env.duration("REDIS_POOL_TIMEOUT", Duration::from_secs(5)),
        }
    }
}

/// Where PostgreSQL is (used by syncd only: the api never talks to it).
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `DATABASE_URL`, when given, wins over the separate variables.
    pub url: Option<Secret>,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub password: Secret,
    pub pool_size: u32,
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    /// A libpq-style connection string (`host=… port=… …`) or the URL.
    pub fn connection_string(&self) -> Secret {
        if let Some(url) = &self.url {
            return url.clone();
        }
        let mut s = format!(
            "host={} port={} user={} dbname={} connect_timeout={}",
            quote_kv(&self.host),
            self.port,
            quote_kv(&self.user),
            quote_kv(&self.dbname),
            self.connect_timeout.as_secs().max(1),
        );
        if !self.password.is_empty() {
            s.push_str(" password=");
            s.push_str(&quote_kv(self.password.expose()));
        }
        Secret::new(s)
    }

    /// `host:port/db` (never the password), for logs and status answers.
    pub fn display_addr(&self) -> String {
        match &self.url {
            Some(url) => redact_url(url.expose()),
            None => format!("{}:{}/{}", self.host, self.port, self.dbname),
        }
    }

    fn from_env(env: &mut Env<'_>) -> Self {
        let url = env.opt("DATABASE_URL").map(Secret::new);
        if let Some(url) = &url
            && !(url.expose().starts_with("postgres://")
                || url.expose().starts_with("postgresql://"))
        {
            env.problem(
                "DATABASE_URL",
                "must start with postgres:// or postgresql://",
            );
        }
        PostgresConfig {
            url,
            host: env.string("DB_HOST", "localhost"),
            port: env.port("DB_PORT", 5433),
            user: env.string("POSTGRES_USER", "taskmaster"),
            dbname: env.string("POSTGRES_DB", "taskmaster"),
            password: Secret::new(env.string("POSTGRES_PASSWORD", "")),
            pool_size: env.parse_in("DB_POOL_SIZE", 4u32, 1..=64),
            connect_timeout: env.duration("DB_CONNECT_TIMEOUT", Duration::from_secs(5)),
        }
    }
}

/// Configuration of `taskmaster-api`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub host: IpAddr,
    pub port: u16,
    pub redis: RedisConfig,
    pub owner_email: String,
    pub owner_password: Secret,
    /// Shortest password accepted for new or changed user passwords.
    pub password_min_length: usize,
    /// Longest time a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Longest time a client may take to send the request headers.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may run on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Bound on the Redis ping behind `/health`.
    pub health_timeout: Duration,
    /// How long `POST /admin/sync` waits for syncd's answer (then 504).
    pub sync_request_timeout: Duration,
    /// Shards of the api: threads, each with a single-threaded runtime,
    /// its own listening socket on the port and its own Redis connections
    /// (`REDIS_POOL_SIZE` of them); 0 means one per CPU core, plus one
    /// (see `taskmaster_api::shard_count`). A request never leaves its
    /// shard's thread.
    pub worker_threads: usize,
    /// Bytes of memory for answers to `GET /users/{id}/tasks` kept under
    /// their task-list version (`LIST_CACHE_MB`; 0 turns it off), shared
    /// out between the shards.
    pub list_cache_bytes: usize,
}

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from any source, for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Env::new(&lookup);
        let app_env = env.parse("APP_ENV", AppEnv::Development);
        let owner_password = Secret::new(env.string("OWNER_PASSWORD", DEFAULT_OWNER_PASSWORD));
        if owner_password.is_empty() {
            env.problem("OWNER_PASSWORD", "must not be empty");
        }
        if app_env == AppEnv::Production {
            if owner_password.expose() == DEFAULT_OWNER_PASSWORD {
                env.problem(
                    "OWNER_PASSWORD",
                    "is the well-known default; set a real secret (APP_ENV=production)",
                );
            } else if owner_password.expose().chars().count() < 12 {
                env.problem(
                    "OWNER_PASSWORD",
                    "must be at least 12 characters long (APP_ENV=production)",
                );
            }
        }
        let owner_email = env.string("OWNER_EMAIL", DEFAULT_OWNER_EMAIL);
        if !is_plausible_email(&owner_email) {
            env.problem("OWNER_EMAIL", "is not an email address");
        }
        let config = ApiConfig {
            app_env,
            log_format: env.parse("LOG_FORMAT", LogFormat::Text),
            host: env.parse("SERVER_HOST", IpAddr::from([0, 0, 0, 0])),
            port: env.parse("SERVER_PORT", 7890u16),
            redis: RedisConfig::from_env(&mut env),
            owner_email,
            owner_password,
            password_min_length: env.parse_in("PASSWORD_MIN_LENGTH", 6usize, 1..=128),
            request_timeout: env.duration("REQUEST_TIMEOUT", Duration::from_secs(30)),
            header_read_timeout: env.duration("HEADER_READ_TIMEOUT", Duration::from_secs(10)),
            shutdown_grace: env.duration("SHUTDOWN_GRACE", Duration::from_secs(10)),
            health_timeout: env.duration("HEALTH_TIMEOUT", Duration::from_secs(2)),
            sync_request_timeout: env.duration("SYNC_REQUEST_TIMEOUT", Duration::from_secs(60)),
            worker_threads: env.parse_in("API_WORKER_THREADS", 0usize, 0..=1024),
            list_cache_bytes: env.parse_in("LIST_CACHE_MB", 64usize, 0..=65_536) << 20,
        };
        env.finish().map(|()| config)
    }

    /// True when the owner secret is the reference system's well-known one.
    pub fn uses_default_owner_password(&self) -> bool {
        self.owner_password.expose() == DEFAULT_OWNER_PASSWORD
    }
}

/// Configuration of `taskmaster-syncd`.
#[derive(Debug, Clone)]
pub struct SyncdConfig {
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub redis: RedisConfig,
    pub postgres: PostgresConfig,
    /// How often dirty rows are written behind (`SYNC_INTERVAL`, default 15m).
    pub sync_interval: Duration,
    /// Flush early once this many rows are pending (`SYNC_MAX_PENDING`).
    pub sync_max_pending: u64,
    /// Rows a flush reads and writes at a time (`SYNC_CHUNK_ROWS`): bounds
    /// syncd's memory whatever the backlog; one transaction either way.
    pub sync_chunk_rows: usize,
    /// How long a shutdown may take before syncd gives up (`SHUTDOWN_GRACE`).
    pub shutdown_grace: Duration,
    /// Where backup files go (`BACKUP_DIR`), and the only place restores
    /// read them from.
    pub backup_dir: std::path::PathBuf,
    /// Plain backups kept; older ones are removed (`BACKUP_KEEP`).
    pub backup_keep: usize,
}

impl SyncdConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from any source, for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Env::new(&lookup);
        let sync_interval = env.duration("SYNC_INTERVAL", Duration::from_secs(15 * 60));
        if sync_interval < Duration::from_secs(1) {
            env.problem("SYNC_INTERVAL", "must be at least 1s");
        }
        let config = SyncdConfig {
            app_env: env.parse("APP_ENV", AppEnv::Development),
            log_format: env.parse("LOG_FORMAT", LogFormat::Text),
            redis: RedisConfig::from_env(&mut env),
            postgres: PostgresConfig::from_env(&mut env),
            sync_interval,
            sync_max_pending: env.parse_in("SYNC_MAX_PENDING", 10_000u64, 1..=u64::MAX),
            sync_chunk_rows: env.parse_in("SYNC_CHUNK_ROWS", 5_000usize, 1..=100_000),
            shutdown_grace: env.duration("SHUTDOWN_GRACE", Duration::from_secs(30)),
            backup_dir: env.string("BACKUP_DIR", "backups").into(),
            backup_keep: env.parse_in("BACKUP_KEEP", 14usize, 1..=100_000),
        };
        env.finish().map(|()| config)
    }
}

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
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
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
    fn urls_are_redacted_for_display() {
        assert_eq!(redact_url("redis://:pw@host:6380/0"), "redis://host:6380/0");
        assert_eq!(
            redact_url("postgres://u:p@h:5433/db"),
            "postgres://h:5433/db"
        );
        assert_eq!(redact_url("redis://host:6380"), "redis://host:6380");
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
