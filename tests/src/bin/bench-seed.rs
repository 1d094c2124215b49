//! Seeds a benchmark dataset straight into Redis through the api's own write
//! scripts (the same atomic steps the endpoints run, minus HTTP and argon2):
//! `groups` groups, `users` users spread over them, `tasks` tasks per user.
//!
//! Usage: `bench-seed <redis url> <key prefix> <users> <tasks per user>`.
//! Prints one JSON line for the load generator: a user id, its password,
//! one of its task ids and its group id, and other users ("writers", up to
//! 63, each with its group) for creates.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use taskmaster_api::store::{NewTaskRow, Outcome, SCRIPTS, Store, u64_of};
use taskmaster_shared::config::{RedisConfig, Secret};
use taskmaster_shared::keys::Keys;
use tokio::task::JoinSet;

const PASSWORD: &str = "bench-password";
const GROUPS: u64 = 10;

fn now() -> String {
    taskmaster_shared::time::rfc3339(taskmaster_shared::time::now_micros())
}

/// Runs a write script; what it answers after `OK` (a refused seed is a bug).
async fn write(store: &Store, inv: &redis::ScriptInvocation<'_>) -> Vec<redis::Value> {
    match store.write(inv).await.expect("redis") {
        Outcome::Ok(items) => items,
        Outcome::Refused { code, details } => panic!("seed refused: {code} {details:?}"),
    }
}

/// The id a create script answers first.
async fn write_one(store: &Store, inv: &redis::ScriptInvocation<'_>) -> u64 {
    write(store, inv)
        .await
        .first()
        .and_then(u64_of)
        .unwrap_or(0)
}

#[tokio::main]
#[allow(clippy::print_stdout)] // The sample is this tool's output.
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, prefix, users, tasks] = args.as_slice() else {
        eprintln!("usage: bench-seed <redis url> <key prefix> <users> <tasks per user>");
        std::process::exit(64);
    };
    let users: u64 = users.parse().expect("users");
    let tasks: u64 = tasks.parse().expect("tasks per user");
    let config = RedisConfig {
        url: Some(Secret::new(url.clone())),
        host: String::new(),
        port: 0,
        password: Secret::default(),
        db: 0,
        key_prefix: prefix.clone(),
        pool_size: 64,
        connect_timeout: std::time::Duration::from_secs(2),
        response_timeout: std::time::Duration::from_secs(30),
        pool_timeout: std::time::Duration::from_secs(30),
    };
    let pool = taskmaster_shared::redis_pool::build(&config).expect("pool");
    let store = Store::new(pool, Arc::new(Keys::new(prefix.clone())));
    let salt = SaltString::generate(&mut OsRng);
    let hash = taskmaster_api::auth::argon2()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .expect("hash")
        .to_string();

    let mut inv = store.invocation(&SCRIPTS.create_user, Some(&now()));
    inv.arg("bench-admin@example.com")
        .arg("Bench Admin")
        .arg("bench-admin@example.com")
        .arg("group_admin")
        .arg("")
        .arg(&hash)
        .arg("{}");
    let admin = write_one(&store, &inv).await;
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let name = format!("bench group {g} {prefix}");
        let mut inv = store.invocation(&SCRIPTS.create_group, Some(&now()));
        inv.arg(name.to_lowercase()).arg(&name).arg(admin);
        groups.push(write_one(&store, &inv).await);
    }

    let started = std::time::Instant::now();
    let mut set = JoinSet::new();
    let per_worker = users.div_ceil(64);
    let groups = Arc::new(groups);
    for w in 0..64u64 {
        let (store, hash, groups) = (store.clone(), hash.clone(), groups.clone());
        set.spawn(async move {
            let mut first = None;
            for i in (w * per_worker)..((w + 1) * per_worker).min(users) {
                let email = format!("bench{i}@example.com");
                let group = groups[(i % GROUPS) as usize];
                let mut inv = store.invocation(&SCRIPTS.create_user, Some(&now()));
                inv.arg(&email)
                    .arg(format!("Bench User {i}"))
                    .arg(&email)
                    .arg("user")
                    .arg("")
                    .arg(&hash)
                    .arg("{}")
                    .arg(group);
                let uid = write_one(&store, &inv).await;
                // Up to 100 tasks per script call, as the api's batcher
                // would send them under load.
                let mut last_task = 0;
                let mut t = 0;
                while t < tasks {
                    let now = now();
                    let mut inv = store.invocation(&SCRIPTS.create_tasks, Some(&now));
                    for t in t..(t + 100).min(tasks) {
                        let title = format!("Task {t} of user {i}");
                        let tail = NewTaskRow {
                            title: &title,
                            priority: (t % 3 + 1) as u8,
                            deadline: "2026-12-31",
                            information: "Seeded for the benchmark",
                            user_id: uid,
                            group_id: group,
                            now: &now,
                        }
                        .tail();
                        inv.arg(uid).arg(group).arg("").arg("").arg(tail);
                    }
                    last_task = write(&store, &inv)
                        .await
                        .last()
                        .and_then(u64_of)
                        .expect("a new task id");
                    t += 100;
                }
                first.get_or_insert((uid, last_task, group));
            }
            first
        });
    }
    let mut samples = Vec::new();
    while let Some(r) = set.join_next().await {
        samples.extend(r.expect("worker"));
    }
    let (uid, tid, gid) = *samples.first().expect("at least one user");
    // Users for the benchmark's creates, one per round: not the user whose
    // list it reads (that list keeps its size), and not one user growing
    // by hundreds of thousands of tasks over the rounds.
    let writers: Vec<serde_json::Value> = samples
        .iter()
        .skip(1)
        .map(|(id, _, group)| serde_json::json!({"id": id, "group_id": group}))
        .collect();
    eprintln!(
        "seeded {users} users and {} tasks in {:.1}s",
        users * tasks,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        serde_json::json!({
            "user_id": uid, "password": PASSWORD, "task_id": tid, "group_id": gid,
            "writers": writers,
        })
    );
}
