//! The state every handler shares: cheap to clone (everything is behind
//! `Arc`s or is itself a handle).

use std::sync::Arc;

use taskmaster_shared::config::ApiConfig;
use taskmaster_shared::keys::Keys;
use taskmaster_shared::redis_pool::{self, RedisPool};

use crate::auth::Authenticator;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ApiConfig>,
    pub redis: RedisPool,
    pub keys: Arc<Keys>,
    pub store: Store,
    pub auth: Arc<Authenticator>,
}

impl AppState {
    pub fn new(config: ApiConfig) -> Result<Self, redis::RedisError> {
        let redis = redis_pool::build(&config.redis)?;
        let keys = Arc::new(Keys::new(config.redis.key_prefix.clone()));
        let store = Store::new(redis.clone(), keys.clone());
        Ok(AppState {
            config: Arc::new(config),
            redis,
            keys,
            store,
            auth: Arc::new(Authenticator::new()),
        })
    }
}
