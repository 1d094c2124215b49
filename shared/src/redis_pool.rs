//! The Redis connection pool both processes use.
//!
//! It is a bb8 pool (the one bb8-redis builds on) of multiplexed
//! connections, with three differences from `bb8_redis::RedisConnectionManager`:
//!
//! * A request does not keep a connection to itself: [`shared`] checks one
//!   out, clones its handle and gives it back at once. A multiplexed
//!   connection is built to be shared; concurrent requests then pipeline
//!   over a few sockets, which costs Redis and the kernel far fewer system
//!   calls than one socket per request (the pool is small: `REDIS_POOL_SIZE`).
//! * Connections are **not** pinged on every checkout (that would double
//!   the round trips of every request). Instead a connection that fails with
//!   an I/O error, a dropped connection or a timeout marks itself broken and
//!   the pool discards it, so the next checkout dials again. That is how the
//!   api recovers by itself after Redis restarts. A connection that works
//!   is kept for good: bb8's idle and lifetime limits, made for one-client
//!   connections, are off.
//! * Connect and response timeouts come from the configuration, so that no
//!   request waits on a stopped Redis for longer than configured.
//! * The pool counts its dials ([`Dials`]). A connection talks to one
//!   server for its life, and a restarted server is only reached through
//!   a new dial, so a number that did not move across a round trip says
//!   the reply came from a server the pool already knew: the api keeps
//!   answers in memory under versions read from Redis, which a crash that
//!   loses the last second under `appendfsync everysec` takes back, and
//!   must not match them with versions the restarted server hands out
//!   again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bb8_redis::bb8;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::config::RedisConfig;

pub use bb8::{PooledConnection, RunError};

/// A pool of Redis connections.
pub type RedisPool = bb8::Pool<Manager>;

/// A connection checked out of the pool.
pub type PooledRedis<'a> = bb8::PooledConnection<'a, Manager>;

/// Dials multiplexed connections with the configured timeouts.
#[derive(Clone)]
pub struct Manager {
    client: Client,
    config: AsyncConnectionConfig,
    /// Where each round trip's time goes (`taskmaster_redis_duration_seconds`).
    latency: metrics::Histogram,
    dials: Dials,
}

/// How many connections a pool has dialed: moves before a new connection
/// carries its first command. Cheap to clone; clones share the count.
#[derive(Clone, Debug, Default)]
pub struct Dials(Arc<AtomicU64>);

impl Dials {
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

impl Manager {
    pub fn new(cfg: &RedisConfig) -> Result<Self, RedisError> {
        let client = client(cfg)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(cfg.connect_timeout))
            .set_response_timeout(Some(cfg.response_timeout));
        Ok(Manager {
            client,
            config,
            latency: metrics::Histogram::noop(),
            dials: Dials::default(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Builds a redis client from the configuration (URL or host/port/db).
pub fn client(cfg: &RedisConfig) -> Result<Client, RedisError> {
    match &cfg.url {
        Some(url) => Client::open(url.expose()),
        None => {
            let mut redis = redis::RedisConnectionInfo::default().set_db(cfg.db);
            if !cfg.password.is_empty() {
                redis = redis.set_password(cfg.password.expose());
            }
            let info =
                redis::IntoConnectionInfo::into_connection_info((cfg.host.as_str(), cfg.port))?
                    .set_redis_settings(redis);
            Client::open(info)
        }
    }
}

/// A multiplexed connection that remembers whether it has failed. Clones
/// share the socket and the flag, so a failure seen through any clone
/// retires the pooled connection.
#[derive(Clone)]
pub struct Conn {
    inner: MultiplexedConnection,
    broken: Arc<AtomicBool>,
    latency: metrics::Histogram,
}

impl Conn {
    fn note<T>(&mut self, result: &Result<T, RedisError>) {
        if let Err(e) = result
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || e.is_unrecoverable_error())
        {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// A connection handle for one request, shared with concurrent requests.
pub async fn shared(pool: &RedisPool) -> Result<Conn, RunError<RedisError>> {
    let pooled = pool.get().await?;
    Ok(pooled.clone())
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let start = std::time::Instant::now();
            let result = self.inner.req_packed_command(cmd).await;
            self.latency.record(start.elapsed().as_secs_f64());
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let start = std::time::Instant::now();
            let result = self.inner.req_packed_commands(cmd, offset, count).await;
            self.latency.record(start.elapsed().as_secs_f64());
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = RedisError;

    async fn connect(&self) -> Result<Conn, RedisError> {
        let inner = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        self.dials.0.fetch_add(1, Ordering::AcqRel);
        Ok(Conn {
            inner,
            broken: Arc::new(AtomicBool::new(false)),
            latency: self.latency.clone(),
        })
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), RedisError> {
        redis::cmd("PING").query_async::<()>(conn).await
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken.load(Ordering::Relaxed)
    }
}

/// Builds the pool without dialing: processes start even while Redis is
/// down and report it through `/health` (api) or their status (syncd).
pub fn build(cfg: &RedisConfig) -> Result<RedisPool, RedisError> {
    build_measured(cfg, metrics::Histogram::noop())
}

/// [`build`], with every round trip's time (a command, a pipeline or a
/// script, as the caller waits for it: queueing on the shared socket
/// included) recorded in `latency`.
pub fn build_measured(
    cfg: &RedisConfig,
    latency: metrics::Histogram,
) -> Result<RedisPool, RedisError> {
    build_counted(cfg, latency, Dials::default())
}

/// [`build_measured`], counting the pool's dials in `dials`.
pub fn build_counted(
    cfg: &RedisConfig,
    latency: metrics::Histogram,
    dials: Dials,
) -> Result<RedisPool, RedisError> {
    let manager = Manager {
        latency,
        dials,
        ..Manager::new(cfg)?
    };
    Ok(bb8::Pool::builder()
        .max_size(cfg.pool_size)
        .min_idle(None)
        // bb8 closes a connection idle for 10 minutes or open for 30 by
        // default. For shared sockets that is churn on a schedule (a failed
        // one is discarded through `has_broken` anyway): the soak saw the
        // api's memory and open files step up just after both marks.
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
        .connection_timeout(cfg.pool_timeout.max(Duration::from_millis(100)))
        .build_unchecked(manager))
}
