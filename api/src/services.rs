//! Services shared by every shard of one api process.
//!
//! Most state is per shard (its Redis connection, its caches: see
//! `lib.rs`), because a request never leaves its shard's thread. What must
//! hold for the process as a whole lives here, built once and handed to
//! each shard: today the owner-password refusals this process knows of
//! (see [`crate::auth::limiter`]). What must hold across api instances,
//! such as the login attempt counts, lives in Redis instead.

use std::sync::Arc;

use crate::auth::limiter::OwnerGuard;

/// Process-wide services. Cheap to clone.
#[derive(Clone, Default)]
pub struct Services {
    pub owner_guard: Arc<OwnerGuard>,
}
