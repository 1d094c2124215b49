//! What the benchmark tools share (`src/bin/bench-seed.rs`,
//! `src/bin/bench-feed.rs`): a store on a benchmark's Redis, and seeding
//! accounts through the api's own scripts (the same atomic steps as the
//! endpoints, minus HTTP and argon2).

use std::time::Duration;

use taskmaster_api::store::{NewUser, Store};
use taskmaster_shared::config::{RedisConfig, Secret};
use taskmaster_shared::domain::{Email, Role, WorkTimes};

/// Now, as the api stamps rows.
pub fn now() -> String {
    taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros())
}

/// The api's store on the Redis at `url`, under `prefix`, with `pool`
/// connections.
pub fn store(url: &str, prefix: &str, pool: u32) -> Store {
    Store::new(&RedisConfig {
        url: Some(Secret::new(url.to_owned())),
        host: String::new(),
        port: 0,
        password: Secret::default(),
        db: 0,
        key_prefix: prefix.to_owned(),
        pool_size: pool,
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(30),
        pool_timeout: Duration::from_secs(30),
        control_secret: Secret::default(),
    })
    .expect("store")
}

/// Creates a user through the api's script (a refused seed is a bug):
/// its id. `hash` is an argon2 PHC string.
pub async fn create_user(
    store: &Store,
    email: &str,
    name: &str,
    role: Role,
    hash: &str,
    groups: &[u64],
) -> u64 {
    let email = Email::parse(email).expect("a valid email");
    let new = NewUser {
        email: &email,
        full_name: name,
        role,
        number: "",
        password_hash: hash,
        work_times: &WorkTimes::default(),
        groups,
        idempotency: None,
    };
    store
        .create_user(&new, &now())
        .await
        .expect("redis")
        .expect("seed refused")
        .get()
}

/// The `p` quantile (0 to 1) of `sorted`, ascending; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
