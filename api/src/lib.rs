//! The taskmaster HTTP API.
//!
//! A hyper 1 server with axum as the router. It owns every Redis read and
//! write; PostgreSQL is syncd's business. Run it with
//! `cargo run -p taskmaster-api` (configuration in `taskmaster_shared::config`).
//!
//! Tests build an [`Application`] and hand [`Application::run`] a listener
//! bound to port 0 and a shutdown future of their own.
//!
//! The binary runs [`serve_sharded`]: one shard per thread, each a
//! single-threaded runtime with its own [`Application`] (and so its own
//! Redis connections) and its own listening socket on the same port
//! ([`bind_shards`]: `SO_REUSEPORT`, so the kernel spreads connections
//! evenly; one shared socket lets whichever shard wakes first take them
//! all). A request
//! then never crosses threads: its handler, its Redis commands and its
//! answer run on one thread, which gathers the commands of all its
//! requests into few writes on its Redis socket. Work-stealing would move
//! tasks between threads and wake each other across cores, which on a
//! small machine shared with Redis costs more than it balances.

pub mod access;
pub mod acting;
pub mod answers;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod clock;
pub mod creates;
pub mod error;
pub mod etag;
pub mod export;
pub mod extract;
pub mod feed;
pub mod fold;
pub mod idempotency;
pub mod import;
pub mod lists;
pub mod metrics;
pub mod middleware;
pub mod origin;
pub mod paging;
pub mod ratelimit;
pub mod report;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod services;
pub mod state;
pub mod status;
pub mod store;
pub mod syncd;
pub mod task_body;
pub mod task_filter;

use std::future::Future;

use taskmaster_shared::config::ApiConfig;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use services::Services;
pub use state::AppState;

/// Why the api could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// How many shards to run: `configured` (`API_WORKER_THREADS`), or for 0
/// one more than the cores.
///
/// Why one more: a shard's thread sleeps whenever every request it holds is
/// waiting on Redis, which creates do for most of their time (they wait in
/// groups, see [`creates`]); with a thread per core the core then idles
/// unless something else on the host wants it. A spare shard fills those
/// gaps. On the 2-core benchmark machine, 3 shards against 2 gave creates
/// 0.41 of the ceiling against 0.36 in full `deploy/bench.sh` runs, and
/// less idle CPU in every alternating comparison (`/proc` CPU time around
/// each run); reads were unchanged (GET 0.52 both).
pub fn shard_count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) + 1,
        n => n,
    }
}

/// `n` listening sockets on `addr`, all with `SO_REUSEPORT`: one per
/// shard. With port 0 the first picks the port and the others join it.
///
/// A port some other server listens on is refused, as a plain bind would
/// refuse it: `SO_REUSEPORT` would otherwise let a second api started by
/// mistake on the same port quietly take half of the first one's
/// connections.
pub fn bind_shards(
    addr: std::net::SocketAddr,
    n: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr)?);
    }
    let mut listeners = Vec::with_capacity(n);
    let mut addr = addr;
    for _ in 0..n.max(1) {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(1024)?.into_std()?;
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves with one shard per listener of [`bind_shards`] (see the crate
/// docs) until
/// `shutdown` resolves, or until one shard fails (the others then stop
/// too). `shutdown` and the waiting run on the caller's runtime, which
/// serves no requests: the shards have their own.
pub async fn serve_sharded(
    config: ApiConfig,
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let mut config = config;
    // The memory and connection budgets are for the process, not for each
    // shard.
    config.list_cache_bytes /= listeners.len().max(1);
    config.max_connections = (config.max_connections / listeners.len().max(1)).max(1);
    let services = Services::new(&config);
    if let Some(addr) = listeners.first().and_then(|l| l.local_addr().ok()) {
        tracing::info!(%addr, shards = listeners.len(), "taskmaster-api listening");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut results = Vec::with_capacity(listeners.len());
    for (shard, listener) in listeners.into_iter().enumerate() {
        let config = config.clone();
        let services = services.clone();
        let mut stopped = stopped.clone();
        let stop = stop.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("api-shard-{shard}"))
            .spawn(move || {
                let outcome = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(StartError::from)
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = TcpListener::from_std(listener)?;
                            let app =
                                Application::build_shard(config, services, shard == 0).await?;
                            app.run(listener, async move {
                                let _ = stopped.wait_for(|stop| *stop).await;
                            })
                            .await
                        })
                    });
                if let Err(e) = &outcome {
                    tracing::error!(shard, error = %e, "shard failed; stopping the others");
                }
                // However this shard ended, the others end too.
                let _ = stop.send(true);
                let _ = done.send(outcome);
            })?;
        results.push(result);
    }
    let mut stopped_early = stopped;
    tokio::select! {
        () = shutdown => {}
        _ = stopped_early.wait_for(|stop| *stop) => {}
    }
    let _ = stop.send(true);
    tracing::info!("stopping: the shards drain their connections");
    let mut outcome = Ok(());
    for result in results {
        let ended = result
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("a shard panicked").into()));
        if outcome.is_ok() {
            outcome = ended;
        }
    }
    tracing::info!("all shards stopped");
    outcome
}

/// A built api, ready to serve.
pub struct Application {
    state: AppState,
    /// Whether [`Application::run`] says where it listens: a lone app
    /// does; the shards of [`serve_sharded`] leave that to it (one line
    /// per process, with the shard count).
    announce: bool,
}

impl Application {
    /// Builds the state (the Redis pool dials lazily, so Redis may be down).
    pub async fn build(config: ApiConfig) -> Result<Self, StartError> {
        let services = Services::new(&config);
        let mut app = Self::build_shard(config, services, true).await?;
        app.announce = true;
        Ok(app)
    }

    /// [`Application::build`] for one of several shards of a process: only
    /// the `first` warns about the configuration and makes sure the owner
    /// account exists (one argon2 hash, one script), the others share it.
    async fn build_shard(
        config: ApiConfig,
        services: Services,
        first: bool,
    ) -> Result<Self, StartError> {
        if first && config.uses_default_owner_password() {
            tracing::warn!(
                "OWNER_PASSWORD is the well-known default `admin1234`: anyone can act as owner. \
                 Set OWNER_PASSWORD before exposing this server (APP_ENV=production refuses to start)."
            );
        }
        let state = AppState::new(config, services)?;
        state.watch_maintenance();
        if first {
            bootstrap::ensure_owner(&state).await;
            bootstrap::ensure_order_index(&state).await;
            bootstrap::finish_leaves(&state);
            import::job::resume_jobs(state.store.clone(), state.services.imports.clone());
            state.services.metrics.registry.spawn_upkeep();
            // The feed's reader runs on the first shard's runtime.
            state.services.feed.start(state.store.clone());
        }
        Ok(Application {
            state,
            announce: false,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` until `shutdown` resolves, then drains in-flight
    /// requests for at most the configured grace period.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let options = server::ServerOptions {
            header_read_timeout: self.state.config.header_read_timeout,
            shutdown_grace: self.state.config.shutdown_grace,
            max_connections: self.state.config.max_connections,
            announce: self.announce,
        };
        let announce = self.announce;
        let feed = self.state.services.feed.clone();
        let edge = middleware::Edge::new(self.state);
        let addr = listener.local_addr()?;
        if announce {
            tracing::info!(%addr, "taskmaster-api listening");
        }
        let watchdog = taskmaster_shared::systemd::watchdog_period().map(|period| {
            tokio::spawn(async move {
                let mut timer = tokio::time::interval(period);
                loop {
                    timer.tick().await;
                    taskmaster_shared::systemd::watchdog();
                }
            })
        });
        taskmaster_shared::systemd::ready(&format!("serving on {addr}"));
        let shutdown = async move {
            shutdown.await;
            taskmaster_shared::systemd::stopping();
            // Live feeds are told to resume elsewhere, so that the drain
            // does not wait for them.
            feed.shut();
        };
        let served = server::serve(listener, edge, options, shutdown).await;
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        served?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shard_count;

    #[test]
    fn zero_shards_means_one_per_core_plus_one() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(shard_count(0), cores + 1);
        assert_eq!(shard_count(1), 1);
        assert_eq!(shard_count(7), 7);
    }
}
