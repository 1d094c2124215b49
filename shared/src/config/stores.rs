//! Where the stores are: Redis and PostgreSQL, as both processes reach
//! them.

use std::time::Duration;

use super::{Env, Secret, quote_kv, redact_url, url_secrets};

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
    /// The secret control requests are signed with (`CONTROL_SECRET`,
    /// HMAC-SHA256; the api, syncd and taskmaster-ctl must share it). The
    /// default, for development, is refused in production.
    pub control_secret: Secret,
}

/// `CONTROL_SECRET` when none is set: fine for a laptop, a placeholder
/// that production refuses.
pub const DEFAULT_CONTROL_SECRET: &str = "change-me-dev-control-secret";

impl RedisConfig {
    /// `host:port` (never the password), for logs and status answers.
    pub fn display_addr(&self) -> String {
        match &self.url {
            Some(url) => redact_url(url.expose()),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    pub(super) fn from_env(env: &mut Env<'_>) -> Self {
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
            control_secret: Secret::new(env.string("CONTROL_SECRET", DEFAULT_CONTROL_SECRET)),
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

    pub(super) fn from_env(env: &mut Env<'_>) -> Self {
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

impl RedisConfig {
    /// The variables that carry its secrets, with them.
    pub(super) fn secrets(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![
            (
                "REDIS_URL",
                self.url
                    .as_ref()
                    .map(|u| url_secrets(u.expose()))
                    .unwrap_or_default(),
            ),
            ("REDIS_PASSWORD", vec![self.password.expose().to_owned()]),
            (
                "CONTROL_SECRET",
                vec![self.control_secret.expose().to_owned()],
            ),
        ]
    }
}

impl PostgresConfig {
    /// The variables that carry its secrets, with them.
    pub(super) fn secrets(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![
            (
                "DATABASE_URL",
                self.url
                    .as_ref()
                    .map(|u| url_secrets(u.expose()))
                    .unwrap_or_default(),
            ),
            ("POSTGRES_PASSWORD", vec![self.password.expose().to_owned()]),
        ]
    }
}
