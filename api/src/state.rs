//! The state every handler shares: cheap to clone (everything is behind
//! `Arc`s or is itself a handle).

use std::sync::Arc;

use taskmaster_shared::config::ApiConfig;
use taskmaster_shared::keys::Keys;
use taskmaster_shared::redis_pool::{self, RedisPool};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ApiConfig>,
    pub redis: RedisPool,
    pub keys: Arc<Keys>,
}

impl AppState {
    pub fn new(config: ApiConfig) -> Result<Self, redis::RedisError> {
        let redis = redis_pool::build(&config.redis)?;
        let keys = Arc::new(Keys::new(config.redis.key_prefix.clone()));
        Ok(AppState {
            config: Arc::new(config),
            redis,
            keys,
        })
    }
}
