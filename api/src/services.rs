//! Services shared by every shard of one api process.
//!
//! Most state is per shard (its Redis connection, its caches: see
//! `lib.rs`), because a request never leaves its shard's thread. What must
//! hold for the process as a whole lives here, built once and handed to
//! each shard: the owner-password refusals this process knows of (see
//! [`crate::auth::limiter`]) and the live change feed's hub (see
//! [`crate::feed::hub`]: one reader of the log per process), and the turns
//! of its background import jobs. What must hold across api instances,
//! such as the login attempt counts, lives in Redis instead.

use std::sync::Arc;

use taskmaster_shared::config::ApiConfig;
use taskmaster_shared::metrics::Registry;

use crate::auth::limiter::OwnerGuard;
use crate::feed::Hub;
use crate::metrics::ApiMetrics;

/// Process-wide services. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub owner_guard: Arc<OwnerGuard>,
    /// The live change feed's one reader and fan-out.
    pub feed: Hub,
    /// Turns of the background import jobs this process runs at once
    /// (see [`crate::import::job`]).
    pub imports: Arc<tokio::sync::Semaphore>,
    /// Turns of the import requests this process reads and judges at once
    /// (each holds its file and its rows: a burst of uploads cannot take
    /// the memory of more than a few).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// The process's metrics.
    pub metrics: Arc<ApiMetrics>,
}

impl Services {
    pub fn new(config: &ApiConfig) -> Services {
        let metrics = Arc::new(ApiMetrics::new(Registry::from_config(&config.metrics)));
        Services {
            owner_guard: Arc::default(),
            feed: Hub::new(config.feed, metrics.feed.clone()),
            imports: Arc::new(tokio::sync::Semaphore::new(
                crate::import::job::JOBS_AT_ONCE,
            )),
            uploads: Arc::new(tokio::sync::Semaphore::new(crate::import::UPLOADS_AT_ONCE)),
            metrics,
        }
    }
}
