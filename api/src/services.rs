//! Services shared by every shard of one api process.
//!
//! Most state is per shard (its Redis connection, its caches: see
//! `lib.rs`), because a request never leaves its shard's thread. What must
//! hold for the process as a whole lives here, built once and handed to
//! each shard: today the failed-login limiter, so that its limit does not
//! multiply with the shard count. What must hold across api instances
//! lives in Redis instead.

use std::sync::Arc;

use crate::auth::limiter::Limiter;

/// Process-wide services. Cheap to clone.
#[derive(Clone, Default)]
pub struct Services {
    pub limiter: Arc<Limiter>,
}
