//! The taskmaster HTTP API.
//!
//! A hyper 1 server with axum as the router. It owns every Redis read and
//! write; PostgreSQL is syncd's business. Run it with
//! `cargo run -p taskmaster-api` (configuration in `taskmaster_shared::config`).
//!
//! Tests build an [`Application`] and hand [`Application::run`] a listener
//! bound to port 0 and a shutdown future of their own.

pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod routes;
pub mod server;
pub mod state;
pub mod store;

use std::future::Future;

use taskmaster_shared::config::ApiConfig;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use state::AppState;

/// Why the api could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// A built api, ready to serve.
pub struct Application {
    state: AppState,
}

impl Application {
    /// Builds the state (the Redis pool dials lazily, so Redis may be down).
    pub async fn build(config: ApiConfig) -> Result<Self, StartError> {
        if config.uses_default_owner_password() {
            tracing::warn!(
                "OWNER_PASSWORD is the well-known default `admin1234`: anyone can act as owner. \
                 Set OWNER_PASSWORD before exposing this server (APP_ENV=production refuses to start)."
            );
        }
        let state = AppState::new(config)?;
        state.watch_maintenance();
        bootstrap::ensure_owner(&state).await;
        Ok(Application { state })
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
        };
        let router = routes::router(self.state);
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "taskmaster-api listening");
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
        };
        let served = server::serve(listener, router, options, shutdown).await;
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        served?;
        Ok(())
    }
}
