//! The state every handler shares: one `Arc`, so the clone each request
//! makes (the edge middleware and the handler each take one) is a single
//! atomic increment.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskmaster_shared::config::ApiConfig;

use crate::auth::Authenticator;
use crate::creates::CreateBatcher;
use crate::lists::ListCache;
use crate::services::Services;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points at.
pub struct Shared {
    pub config: ApiConfig,
    pub store: Store,
    /// This shard's verified-credential cache.
    pub auth: Authenticator,
    /// What the whole process shares.
    pub services: Services,
    /// Task creates, gathered into one Redis step per batch.
    pub creates: CreateBatcher,
    /// Answers to `GET /users/{id}/tasks` by task-list version.
    pub lists: ListCache,
    /// First pages of a user's task list, by user and request (query and
    /// today's date, which `due` and `overdue` depend on), by task-list
    /// version: a quarter of the lists' budget on top of it.
    pub pages: ListCache<(u64, String), crate::paging::PageAnswer>,
    /// This shard's request meters.
    pub routes: Arc<crate::metrics::ShardMeters>,
    /// Whether `P maintenance` was set at the last look (see
    /// [`AppState::watch_maintenance`]).
    pub maintenance: AtomicBool,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// One shard's state; `services` are the process's.
    pub fn new(config: ApiConfig, services: Services) -> Result<Self, redis::RedisError> {
        let metrics = &services.metrics;
        let (routes, redis_latency) = metrics.shard();
        let store =
            Store::measured(&config.redis, redis_latency)?.with_quotas(crate::store::Quotas {
                per_user: config.lists.max_tasks_per_user,
                per_group: config.lists.max_tasks_per_group,
            });
        let lists = ListCache::new(config.list_cache_bytes).counted(metrics.cache("lists"));
        let pages = ListCache::new(config.list_cache_bytes / 4).counted(metrics.cache("pages"));
        let creates = CreateBatcher::start(store.clone());
        Ok(AppState(Arc::new(Shared {
            config,
            store,
            lists,
            pages,
            creates,
            auth: Authenticator::new().counted(metrics.cache("credentials")),
            routes,
            services,
            maintenance: AtomicBool::new(false),
        })))
    }

    pub fn in_maintenance(&self) -> bool {
        self.maintenance.load(Ordering::Relaxed)
    }

    /// Looks at `P maintenance` now instead of waiting for the next poll.
    async fn refresh_maintenance(&self) {
        if let Ok(set) = self.store.maintenance().await {
            self.maintenance.store(set, Ordering::Relaxed);
        }
    }

    /// [`AppState::refresh_maintenance`], then the flag.
    pub async fn still_in_maintenance(&self) -> bool {
        self.refresh_maintenance().await;
        self.in_maintenance()
    }

    /// Polls `P maintenance` every `MAINTENANCE_POLL_MS` for as long as the
    /// state lives. syncd waits several polls after raising the flag before
    /// it changes anything, and the write scripts check the key themselves,
    /// so a stale flag can delay an answer but never let a write through.
    pub fn watch_maintenance(&self) {
        let shared = Arc::downgrade(&self.0);
        let store = self.store.clone();
        tokio::spawn(async move {
            let period = Duration::from_millis(taskmaster_shared::control::MAINTENANCE_POLL_MS);
            let mut timer = tokio::time::interval(period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let flag = &shared.maintenance;
                if let Ok(set) = store.maintenance().await
                    && flag.swap(set, Ordering::Relaxed) != set
                {
                    if set {
                        tracing::warn!("maintenance: a restore is running; data requests get 503");
                    } else {
                        tracing::info!("maintenance over");
                    }
                }
            }
        });
    }
}
