//! Each process's whole configuration: [`ApiConfig`] and [`SyncdConfig`].

use std::net::IpAddr;
use std::time::Duration;

use super::{
    AccountsConfig, AppEnv, ConfigError, DEFAULT_OWNER_EMAIL, DEFAULT_OWNER_PASSWORD, Env,
    LogFormat, PostgresConfig, RedisConfig, Secret, is_placeholder, is_plausible_email,
};

/// In production, refuses each variable whose secret is an example's
/// placeholder (a copied `taskmaster.env.example` must not run as is).
fn refuse_placeholders(env: &mut Env<'_>, secrets: &[(&str, Vec<String>)]) {
    for (name, values) in secrets {
        if values.iter().any(|v| is_placeholder(v)) {
            env.problem(
                name,
                "holds an example's placeholder secret; set a real one (APP_ENV=production)",
            );
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
    /// Most client connections open at once (`MAX_CONNECTIONS`), shared out
    /// between the shards; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Browser origins allowed to call the api from other sites
    /// (`CORS_ORIGINS`, comma-separated `scheme://host[:port]`), with
    /// credentials. Empty: the reference's `*`, for requests without
    /// credentials only.
    pub cors_origins: Vec<String>,
    /// Login sessions and self-registration (see [`super::accounts`]).
    pub accounts: AccountsConfig,
    /// The live change feed (`GET /ws`, `GET /events`).
    pub feed: FeedConfig,
    /// Hosts a webhook may be delivered to although they resolve to a
    /// loopback or private address (`WEBHOOK_ALLOW_HOSTS`, comma-separated
    /// names or addresses): a receiver on the same machine or network.
    pub webhook_allow_hosts: crate::webhook::AllowedHosts,
    /// Bounds of list answers.
    pub lists: ListLimits,
    /// Bounds of task imports.
    pub imports: ImportLimits,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: super::MetricsConfig,
    /// Peers whose `X-Request-Id` is kept (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpAddr>,
}

/// Bounds of task imports (`POST /users/{id}/tasks/import`).
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    /// The largest file accepted (`IMPORT_MAX_BYTES`, default 20 MiB);
    /// larger is 413.
    pub max_bytes: usize,
    /// The most rows imported while the request waits (`IMPORT_SYNC_ROWS`,
    /// default 1,000); more run as a background job (202).
    pub sync_rows: usize,
}

/// Bounds of list answers (see `api/src/paging`).
#[derive(Debug, Clone, Copy)]
pub struct ListLimits {
    /// The largest page a client may ask for (`MAX_PAGE_SIZE`): `limit`
    /// or `per_page` beyond it is 422, never a silent cap.
    pub max_page_size: usize,
    /// The most rows a list read without paging may answer or read
    /// (`MAX_UNPAGED`); beyond it the answer is 422 asking for paging.
    /// Also bounds what a sort on several keys or a deep page of a
    /// filtered list reads.
    pub max_unpaged: usize,
    /// The most tasks one user may hold (`MAX_TASKS_PER_USER`; 0: no
    /// limit): one user can never fill Redis for everyone.
    pub max_tasks_per_user: u64,
    /// The most tasks one group may hold (`MAX_TASKS_PER_GROUP`; 0: no
    /// limit).
    pub max_tasks_per_group: u64,
}

/// Bounds of the live change feed.
#[derive(Debug, Clone, Copy)]
pub struct FeedConfig {
    /// Messages a connection may have waiting (`FEED_BUFFER`); a client
    /// that falls further behind is closed and told to resume.
    pub buffer: usize,
    /// Live connections one principal may hold (`FEED_MAX_PER_PRINCIPAL`).
    pub max_per_principal: usize,
    /// Live connections of the whole process (`FEED_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How often a WebSocket is pinged and an SSE stream gets a comment
    /// (`FEED_PING_INTERVAL`).
    pub ping_interval: Duration,
    /// A WebSocket that sends nothing, not even a pong, for this long is
    /// closed (`FEED_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
}

/// `CORS_ORIGINS`: comma-separated origins, each `http(s)://host[:port]`
/// exactly as a browser sends it in `Origin` (no path, no trailing slash).
fn parse_origins(list: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let rest = item
            .strip_prefix("https://")
            .or_else(|| item.strip_prefix("http://"));
        let valid = rest.is_some_and(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        });
        if !valid {
            return Err(format!(
                "{item:?} is not an origin (http(s)://host[:port], no path; `*` is the default when the list is empty)"
            ));
        }
        origins.push(item.to_ascii_lowercase());
    }
    Ok(origins)
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
            } else if is_placeholder(owner_password.expose()) {
                env.problem(
                    "OWNER_PASSWORD",
                    "holds an example's placeholder secret; set a real one (APP_ENV=production)",
                );
            }
        }
        let owner_email = env.string("OWNER_EMAIL", DEFAULT_OWNER_EMAIL);
        if !is_plausible_email(&owner_email) {
            env.problem("OWNER_EMAIL", "is not an email address");
        }
        let mut config = ApiConfig {
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
            max_connections: env.parse_in("MAX_CONNECTIONS", 10_000usize, 1..=1_000_000),
            feed: FeedConfig {
                buffer: env.parse_in("FEED_BUFFER", 1_024usize, 16..=1_000_000),
                max_per_principal: env.parse_in("FEED_MAX_PER_PRINCIPAL", 32usize, 1..=100_000),
                max_connections: env.parse_in("FEED_MAX_CONNECTIONS", 10_000usize, 1..=1_000_000),
                ping_interval: env.duration("FEED_PING_INTERVAL", Duration::from_secs(25)),
                idle_timeout: env.duration("FEED_IDLE_TIMEOUT", Duration::from_secs(60)),
            },
            cors_origins: Vec::new(),
            accounts: AccountsConfig::from_env(&mut env, app_env == AppEnv::Production),
            webhook_allow_hosts: crate::webhook::AllowedHosts::parse(
                &env.string("WEBHOOK_ALLOW_HOSTS", ""),
            ),
            lists: ListLimits {
                max_page_size: env.parse_in("MAX_PAGE_SIZE", 500usize, 1..=10_000),
                max_unpaged: env.parse_in("MAX_UNPAGED", 50_000usize, 1..=10_000_000),
                max_tasks_per_user: env.parse("MAX_TASKS_PER_USER", 100_000u64),
                max_tasks_per_group: env.parse("MAX_TASKS_PER_GROUP", 1_000_000u64),
            },
            imports: ImportLimits {
                max_bytes: env.parse_in("IMPORT_MAX_BYTES", 20usize << 20, 1_024..=(512 << 20)),
                sync_rows: env.parse_in("IMPORT_SYNC_ROWS", 1_000usize, 1..=1_000_000),
            },
            metrics: super::MetricsConfig::from_env(&mut env),
            trusted_proxies: super::observability::trusted_proxies(&mut env),
        };
        match parse_origins(&env.string("CORS_ORIGINS", "")) {
            Ok(origins) => config.cors_origins = origins,
            Err(problem) => env.problem("CORS_ORIGINS", &problem),
        }
        if app_env == AppEnv::Production {
            refuse_placeholders(&mut env, &config.redis.secrets());
        }
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
    /// How long the change log keeps an entry (`CHANGES_RETAIN`, default
    /// 24h): a client may resume from any position this recent.
    pub changes_retain: Duration,
    /// The most entries the change log keeps (`CHANGES_RETAIN_ENTRIES`,
    /// default 200,000, about 75 MiB of Redis memory): bounds its memory
    /// under a burst of writes.
    pub changes_retain_entries: u64,
    /// A fault to inject (`SYNCD_FAULT`), for the fault tests only: see
    /// [`SyncdFault`]. Unset in any real deployment.
    pub fault: Option<SyncdFault>,
    /// Webhook deliveries.
    pub webhooks: WebhookConfig,
    /// Prometheus metrics.
    pub metrics: super::MetricsConfig,
    /// Where syncd serves its metrics (`SYNCD_METRICS_ADDR`); `None`: off.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// How syncd delivers webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Hosts that may resolve to internal addresses (`WEBHOOK_ALLOW_HOSTS`,
    /// as the api's).
    pub allow_hosts: crate::webhook::AllowedHosts,
    /// The first retry's wait (`WEBHOOK_RETRY_BASE`, default 10s); each
    /// next doubles, up to an hour, with up to a fifth of jitter.
    pub retry_base: Duration,
    /// How long a delivery is retried before it is given up, a dead
    /// letter (`WEBHOOK_RETRY_WINDOW`, default 24h).
    pub retry_window: Duration,
    /// Deliveries in flight to one hook at most (`WEBHOOK_PER_HOOK`,
    /// default 4): a slow receiver holds up only its own hook.
    pub per_hook: usize,
    /// Deliveries in flight in all (`WEBHOOK_IN_FLIGHT`, default 64).
    pub in_flight: usize,
    /// A whole attempt's limit (`WEBHOOK_TIMEOUT`, default 10s), and its
    /// connection's (`WEBHOOK_CONNECT_TIMEOUT`, default 5s).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Deliveries one hook may have waiting (`WEBHOOK_QUEUE_MAX`, default
    /// 10,000): a receiver down for long gets no more (they are counted
    /// as dropped), so that Redis memory stays bounded.
    pub queue_max: usize,
    /// `WEBHOOK_DELIVERY=off` queues deliveries without sending any (the
    /// fuzzing run, which registers hooks with any URL, never reaches
    /// beyond the machine); default `on`.
    pub deliver: bool,
}

/// Faults syncd injects on request, so that tests can kill it at a
/// precise point instead of hoping a `kill -9` lands there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncdFault {
    /// `audit_after_commit`: abort (as `kill -9` would end it) right after
    /// the audit log's PostgreSQL commit, before the entries are
    /// acknowledged.
    AuditAfterCommit,
}

impl std::str::FromStr for SyncdFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "audit_after_commit" => Ok(SyncdFault::AuditAfterCommit),
            _ => Err("must be `audit_after_commit`".into()),
        }
    }
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
            metrics_addr: None,
            metrics: super::MetricsConfig::from_env(&mut env),
            sync_max_pending: env.parse_in("SYNC_MAX_PENDING", 10_000u64, 1..=u64::MAX),
            sync_chunk_rows: env.parse_in("SYNC_CHUNK_ROWS", 5_000usize, 1..=100_000),
            shutdown_grace: env.duration("SHUTDOWN_GRACE", Duration::from_secs(30)),
            backup_dir: env.string("BACKUP_DIR", "backups").into(),
            backup_keep: env.parse_in("BACKUP_KEEP", 14usize, 1..=100_000),
            changes_retain: env.duration("CHANGES_RETAIN", Duration::from_secs(24 * 3600)),
            changes_retain_entries: env.parse_in(
                "CHANGES_RETAIN_ENTRIES",
                200_000u64,
                1..=u64::MAX,
            ),
            fault: None,
            webhooks: WebhookConfig {
                allow_hosts: crate::webhook::AllowedHosts::parse(
                    &env.string("WEBHOOK_ALLOW_HOSTS", ""),
                ),
                retry_base: env.duration("WEBHOOK_RETRY_BASE", Duration::from_secs(10)),
                retry_window: env.duration("WEBHOOK_RETRY_WINDOW", Duration::from_secs(24 * 3600)),
                per_hook: env.parse_in("WEBHOOK_PER_HOOK", 4usize, 1..=64),
                in_flight: env.parse_in("WEBHOOK_IN_FLIGHT", 64usize, 1..=10_000),
                timeout: env.duration("WEBHOOK_TIMEOUT", Duration::from_secs(10)),
                connect_timeout: env.duration("WEBHOOK_CONNECT_TIMEOUT", Duration::from_secs(5)),
                deliver: true,
                queue_max: env.parse_in("WEBHOOK_QUEUE_MAX", 10_000usize, 1..=10_000_000),
            },
        };
        let fault = env
            .opt("SYNCD_FAULT")
            .map(|_| env.parse("SYNCD_FAULT", SyncdFault::AuditAfterCommit));
        let metrics_addr = super::observability::syncd_metrics_addr(&mut env, &config.metrics);
        let mut config = SyncdConfig {
            fault,
            metrics_addr,
            ..config
        };
        match env.string("WEBHOOK_DELIVERY", "on").as_str() {
            "on" => {}
            "off" => config.webhooks.deliver = false,
            _ => env.problem("WEBHOOK_DELIVERY", "must be `on` or `off`"),
        }
        if config.app_env == AppEnv::Production {
            if config.fault.is_some() {
                env.problem(
                    "SYNCD_FAULT",
                    "is for fault tests and refused in production",
                );
            }
            refuse_placeholders(&mut env, &config.redis.secrets());
            refuse_placeholders(&mut env, &config.postgres.secrets());
        }
        env.finish().map(|()| config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_exact_origins_or_a_named_problem() {
        assert_eq!(parse_origins(""), Ok(vec![]));
        assert_eq!(
            parse_origins(" https://App.example.com, http://localhost:3000 "),
            Ok(vec![
                "https://app.example.com".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
        for bad in [
            "*",
            "app.example.com",
            "https://a.example/path",
            "https://",
            "ftp://x",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }
}
