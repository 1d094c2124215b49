//! The integration-test harness.
//!
//! * One private `redis-server` and one private PostgreSQL cluster per test
//!   binary ([`shared`]), started on first use on free loopback ports.
//! * Isolation per test: each [`TestApp`] gets its own Redis key prefix, and
//!   [`Shared::fresh_database`] clones a migrated template database.
//! * [`spawn_app`] runs the api in-process through `Application::run` on
//!   port 0; [`ChildProcess`] runs the real binaries for end-to-end tests.
//! * Logs: the api's are silent unless `TEST_LOG` is set; the servers' logs
//!   (and a child process's output) are printed when a test fails.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; the
//! README's test command does it).

pub mod bench;
pub mod bulk;
pub mod chaos;
pub mod feed;
pub mod metrics;
mod process;
pub mod receiver;
mod seed;
pub mod servers;
pub mod slow_log;
pub mod soak;
pub mod spec;

pub use seed::Seeded;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use taskmaster_shared::config::{ApiConfig, lookup_from_pairs};
use taskmaster_shared::keys::Keys;
use tokio::sync::{OnceCell, oneshot};

pub use process::{ChildProcess, binary_path, eventually, unless_stopped};
pub use servers::{PostgresServer, RedisServer, free_port};

/// The owner secret every test app uses.
pub const OWNER_PASSWORD: &str = "test-owner-secret";

static SHARED: OnceCell<Shared> = OnceCell::const_new();
static SEQ: AtomicU32 = AtomicU32::new(0);
const TEMPLATE_DB: &str = "taskmaster_template";

/// A number unique within this test process.
pub fn unique() -> u32 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// The servers every test of this binary shares.
pub struct Shared {
    pub redis: RedisServer,
    pub postgres: PostgresServer,
    create_db: tokio::sync::Mutex<()>,
}

/// Starts the shared servers on first use.
pub async fn shared() -> &'static Shared {
    SHARED
        .get_or_try_init(|| async {
            init_test_logging();
            let (redis, postgres) = tokio::task::spawn_blocking(|| -> Result<_> {
                Ok((RedisServer::start()?, PostgresServer::start()?))
            })
            .await??;
            let shared = Shared {
                redis,
                postgres,
                create_db: tokio::sync::Mutex::new(()),
            };
            shared.create_template().await?;
            anyhow::Ok(shared)
        })
        .await
        .expect("cannot start the test servers")
}

impl Shared {
    async fn admin_client(&self) -> Result<tokio_postgres::Client> {
        connect_pg(&self.postgres.url("postgres")).await
    }

    async fn create_template(&self) -> Result<()> {
        // The port opens before PostgreSQL accepts sessions ("the database
        // system is starting up"): retry for a while.
        let mut attempts = 0;
        let admin = loop {
            match self.admin_client().await {
                Ok(client) => break client,
                Err(e) if attempts < 300 => {
                    attempts += 1;
                    tracing::debug!(error = %e, "postgres not ready yet");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        admin
            .batch_execute(&format!("CREATE DATABASE {TEMPLATE_DB}"))
            .await?;
        let url = self.postgres.url(TEMPLATE_DB);
        // The blocking client must not run on a tokio thread.
        std::thread::spawn(move || -> Result<()> {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            taskmaster_syncd::migrations::migrate(&mut client)?;
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("migration thread panicked"))??;
        Ok(())
    }

    /// A new database with the schema applied; returns its name.
    pub async fn fresh_database(&self) -> Result<String> {
        self.new_database(Some(TEMPLATE_DB)).await
    }

    /// A new database without any schema; returns its name.
    pub async fn empty_database(&self) -> Result<String> {
        self.new_database(None).await
    }

    async fn new_database(&self, template: Option<&str>) -> Result<String> {
        let name = format!("t_{}_{}", std::process::id(), unique());
        let _one_at_a_time = self.create_db.lock().await;
        let admin = self.admin_client().await?;
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        admin.batch_execute(&sql).await?;
        Ok(name)
    }
}

/// Connects with tokio-postgres and drives the connection in the background.
pub async fn connect_pg(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Installs a log subscriber writing to the test output when `TEST_LOG` is
/// set (its value is the filter; `1` means `debug`). Otherwise the api's
/// logs are dropped.
pub fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let filter = if filter == "1" || filter.is_empty() {
                "debug".to_owned()
            } else {
                filter
            };
            taskmaster_shared::telemetry::init_with_writer(
                taskmaster_shared::config::LogFormat::Text,
                &filter,
                tracing_subscriber::fmt::TestWriter::new(),
            );
        }
    });
}

/// One api instance running inside the test process.
pub struct TestApp {
    pub addr: SocketAddr,
    pub keys: Keys,
    /// The Redis this app talks to.
    pub redis_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Held by the tests that load the machine hard (a million rows, imports
/// of tens of thousands) and by those that measure Redis's latency: on
/// two cores, one of each at a time, so that a latency bound is not
/// broken by another test's load.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Starts an api on the shared Redis with a key prefix of its own.
pub async fn spawn_app() -> TestApp {
    let shared = shared().await;
    spawn_app_with(shared.redis.port, &[]).await
}

/// Starts an api on the Redis at `redis_port`, with extra configuration.
pub async fn spawn_app_with(redis_port: u16, extra: &[(&str, &str)]) -> TestApp {
    spawn_app_on(redis_port, &format!("t{}:", unique()), extra).await
}

/// Starts an api on the Redis at `redis_port` with the given key prefix (a
/// second instance on the same data, or a restart).
pub async fn spawn_app_on(redis_port: u16, prefix: &str, extra: &[(&str, &str)]) -> TestApp {
    init_test_logging();
    let prefix = prefix.to_owned();
    let port = redis_port.to_string();
    let api_url = RedisServer::api_url(redis_port);
    let mut pairs: Vec<(&str, &str)> = vec![
        ("REDIS_HOST", "127.0.0.1"),
        ("REDIS_PORT", &port),
        // As its own ACL user (see `servers::test_acl`).
        ("REDIS_URL", &api_url),
        ("REDIS_KEY_PREFIX", &prefix),
        ("OWNER_PASSWORD", OWNER_PASSWORD),
        ("HEALTH_TIMEOUT", "1s"),
        ("REDIS_CONNECT_TIMEOUT", "1s"),
        ("REDIS_RESPONSE_TIMEOUT", "2s"),
        ("SHUTDOWN_GRACE", "2s"),
        // Every request is counted, as in production, but no test meets
        // the limit unless it sets one (the floods and the seeding of the
        // fault tests would).
        ("RATE_LIMIT_PER_MINUTE", "10000000"),
        ("RATE_LIMIT_BURST", "10000000"),
    ];
    pairs.extend_from_slice(extra);
    let config =
        ApiConfig::from_lookup(lookup_from_pairs(&pairs)).expect("test configuration is valid");
    let keys = Keys::new(config.redis.key_prefix.clone());
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let app = taskmaster_api::Application::build(config)
        .await
        .expect("api builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run(listener, async {
            let _ = rx.await;
        })
        .await
        .expect("api runs");
    });
    let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    TestApp {
        addr,
        keys,
        redis_url,
        client,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// Starts the api binary in a process of its own (its memory, its
/// signals, its log are its own) on the shared Redis under a new prefix,
/// with extra configuration; answers once it listens. Build the binary
/// first (`cargo build`): the tests run what `target/` holds.
pub async fn spawn_child_api(extra: &[(&str, &str)]) -> (ChildProcess, TestApp) {
    let shared = shared().await;
    let port = free_port();
    // A prefix the test Redis's api user may touch (`t…:`).
    let prefix = format!("t{}:", unique());
    let mut vars: HashMap<String, String> = [
        ("SERVER_HOST", "127.0.0.1".to_owned()),
        ("SERVER_PORT", port.to_string()),
        ("REDIS_URL", RedisServer::api_url(shared.redis.port)),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("OWNER_PASSWORD", OWNER_PASSWORD.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let api = ChildProcess::spawn("taskmaster-api", &vars).expect("api starts");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let app = TestApp::at(addr, shared.redis.port, &prefix);
    eventually(Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(addr).await.ok()
    })
    .await
    .unwrap_or_else(|| panic!("the api never listened:\n{}", api.output()));
    (api, app)
}

impl TestApp {
    /// A client of an api running elsewhere (a child process) at `addr`,
    /// on the data under `prefix` of the Redis at `redis_port`.
    pub fn at(addr: SocketAddr, redis_port: u16, prefix: &str) -> TestApp {
        TestApp {
            addr,
            keys: Keys::new(prefix),
            redis_url: format!("redis://127.0.0.1:{redis_port}"),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            shutdown: None,
            server: None,
        }
    }
}

/// An answer, fully read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a 422 whose message names `field` first (`field: …`).
    pub fn assert_invalid(&self, field: &str) {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "want 422 naming {field}: {}",
            self.text()
        );
        let error = self.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.starts_with(&format!("{field}:")), "{error}");
    }
}

/// How a test request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// `X-Owner-Password` with the test owner secret.
    Owner,
    /// HTTP Basic with a login (id or email) and a password.
    Basic(String, String),
    /// `Authorization: Bearer` with a token.
    Bearer(String),
}

impl Auth {
    /// The header that carries these credentials, if any.
    pub fn header(&self) -> Option<(&'static str, String)> {
        match self {
            Auth::None => None,
            Auth::Owner => Some(("x-owner-password", OWNER_PASSWORD.to_owned())),
            Auth::Basic(login, pw) => {
                use base64::Engine;
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{login}:{pw}"));
                Some(("authorization", format!("Basic {pair}")))
            }
            Auth::Bearer(token) => Some(("authorization", format!("Bearer {token}"))),
        }
    }
}

impl TestApp {
    /// Sends a request with JSON body `body` (if any) as `auth`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> TestResponse {
        match body {
            Some(v) => {
                let bytes = serde_json::to_vec(&v).expect("json");
                self.send(method, path, auth, Some("application/json"), bytes)
                    .await
            }
            None => self.send(method, path, auth, None, Bytes::new()).await,
        }
    }

    /// Sends `body` of `content_type` (if any) as `auth`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> TestResponse {
        let credentials = auth.header();
        let mut headers: Vec<(&str, &str)> = credentials
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        if let Some(media) = content_type {
            headers.push(("content-type", media));
        }
        self.request(method, path, &headers, body).await
    }

    /// Sends a file (an import) of `content_type` as `auth`.
    pub async fn upload(
        &self,
        path: &str,
        auth: &Auth,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> TestResponse {
        self.send(Method::POST, path, auth, Some(content_type), body)
            .await
    }

    /// The array `data.{key}` of `path`'s answer to the owner (200).
    pub async fn owner_list(&self, path: &str, key: &str) -> Vec<Value> {
        let res = self.call(Method::GET, path, &Auth::Owner, None).await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {}", res.text());
        res.json()["data"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: no array `{key}`"))
            .clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request; `headers` are (name, value) pairs.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(self.url(path));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body.into())).expect("valid request");
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .expect("the api answered within 30 s")
            .expect("request sent");
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(30), body.collect())
            .await
            .expect("the answer's body ended within 30 s")
            .expect("body read")
            .to_bytes();
        spec::check_answer(&method, path, parts.status.as_u16(), &parts.headers, &body);
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET /metrics`, parsed by a real Prometheus parser (see
    /// [`metrics`]); panics unless it answers 200.
    pub async fn scrape(&self) -> metrics::Metrics {
        let (status, body) = metrics::fetch(self.addr, &[]).await;
        assert_eq!(status, 200, "{body}");
        metrics::Metrics::parse(&body)
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }

    /// The URL syncd connects to this app's Redis with: its ACL user.
    pub fn syncd_redis_url(&self) -> String {
        RedisServer::syncd_url(self.redis_port())
    }

    fn redis_port(&self) -> u16 {
        self.redis_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("redis port")
    }

    /// Another api instance on the same Redis data (same key prefix), as
    /// after a restart or with a second replica.
    pub async fn restart_same_prefix(&self) -> TestApp {
        self.restart_with(&[]).await
    }

    /// Another api on this app's data (a restart), with `extra` variables
    /// (say a new `OWNER_PASSWORD`).
    pub async fn restart_with(&self, extra: &[(&str, &str)]) -> TestApp {
        spawn_app_on(self.redis_port(), self.keys.prefix(), extra).await
    }

    /// The environment of a `taskmaster-syncd` child process working on
    /// this app's Redis data and the database at `database_url`, with
    /// `extra` variables (e.g. `SYNC_INTERVAL`).
    pub fn syncd_env(&self, database_url: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
        // Backups go to a directory of the test's own unless it names one.
        let backups = std::env::temp_dir()
            .join(format!(
                "tm-test-backups-{}",
                self.keys.prefix().trim_end_matches(':')
            ))
            .display()
            .to_string();
        let redis_url = self.syncd_redis_url();
        [
            ("REDIS_URL", redis_url.as_str()),
            ("REDIS_KEY_PREFIX", self.keys.prefix()),
            ("DATABASE_URL", database_url),
            ("BACKUP_DIR", backups.as_str()),
            // Many syncds run at once: none listens for metrics unless a
            // test gives it an address.
            ("SYNCD_METRICS_ADDR", "off"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// A `taskmaster-syncd` process on this app's data and the database at
    /// `database_url`, with `extra` variables; returns once it has applied
    /// every migration (the last one's table answers), with a client of
    /// that database.
    pub async fn syncd_process(
        &self,
        database_url: &str,
        extra: &[(&str, &str)],
    ) -> (ChildProcess, tokio_postgres::Client) {
        let env = self.syncd_env(database_url, extra);
        let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");
        let pg = connect_pg(database_url).await.expect("pg");
        let ready = eventually(Duration::from_secs(20), || async {
            pg.query_one("SELECT count(*) FROM audit_log", &[])
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(
            ready.is_some(),
            "schema never appeared:\n{}",
            syncd.output()
        );
        (syncd, pg)
    }

    /// The api's own store layer on this app's Redis and prefix, for
    /// tests that drive it below HTTP.
    pub fn store(&self) -> taskmaster_api::store::Store {
        let url = RedisServer::api_url(self.redis_port());
        let config = ApiConfig::from_lookup(lookup_from_pairs(&[
            ("REDIS_URL", &url),
            ("REDIS_KEY_PREFIX", self.keys.prefix()),
        ]))
        .expect("store configuration is valid");
        taskmaster_api::store::Store::new(&config.redis).expect("store builds")
    }

    /// A Redis pool on this app's data as syncd's ACL user, for tests that
    /// drive syncd's library below its daemon.
    pub fn syncd_redis_pool(&self) -> taskmaster_shared::redis_pool::RedisPool {
        let url = self.syncd_redis_url();
        let config = ApiConfig::from_lookup(lookup_from_pairs(&[
            ("REDIS_URL", &url),
            ("REDIS_KEY_PREFIX", self.keys.prefix()),
        ]))
        .expect("configuration is valid");
        taskmaster_shared::redis_pool::build(&config.redis).expect("pool builds")
    }

    /// A direct connection to this app's Redis, to inspect keys.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        self.shutdown_now().await;
    }

    async fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(shared) = SHARED.get()
        {
            eprintln!(
                "--- shared redis-server log ---\n{}\n--- shared postgres log ---\n{}",
                servers::tail(&shared.redis.log_path(), 20),
                servers::tail(&shared.postgres.log_path(), 20)
            );
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
