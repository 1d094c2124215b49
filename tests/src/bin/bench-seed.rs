//! Seeds a benchmark dataset straight into Redis through the api's own write
//! scripts (the same atomic steps the endpoints run, minus HTTP and argon2):
//! `groups` groups, `users` users spread over them, `tasks` tasks per user.
//!
//! Usage: `bench-seed <redis url> <key prefix> <users> <tasks per user>`;
//! with `BENCH_SEED_BULK=n`, the first user gets n more tasks, written
//! straight into Redis (a list at scale).
//! Prints one JSON line for the load generator: a user id, its password,
//! one of its task ids and its group id, and other users ("writers", up to
//! 63, each with its group) for creates.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use taskmaster_api::store::NewTaskRow;
use taskmaster_shared::domain::{Labels, Role, TaskState, UserId};
use taskmaster_tests::bench;
use tokio::task::JoinSet;

const PASSWORD: &str = "bench-password";
const GROUPS: u64 = 10;

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
    let store = bench::store(url, prefix, 64);
    let salt = SaltString::generate(&mut OsRng);
    let hash = taskmaster_api::auth::argon2()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .expect("hash")
        .to_string();

    let admin = bench::create_user(
        &store,
        "bench-admin@example.com",
        "Bench Admin",
        Role::GroupAdmin,
        &hash,
        &[],
    )
    .await;
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let name = format!("bench group {g} {prefix}");
        let id = store
            .create_group(&name, UserId(admin), &bench::now())
            .await
            .expect("redis")
            .expect("seed refused");
        groups.push(id.get());
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
                let uid = bench::create_user(
                    &store,
                    &email,
                    &format!("Bench User {i}"),
                    Role::User,
                    &hash,
                    &[group],
                )
                .await;
                // Up to 100 tasks per script call, as the api's batcher
                // would send them under load.
                let no_labels = Labels::default();
                let mut last_task = 0;
                let mut t = 0;
                while t < tasks {
                    let now = bench::now();
                    let mut creates = Vec::new();
                    for t in t..(t + 100).min(tasks) {
                        let title = format!("Task {t} of user {i}");
                        creates.push(
                            NewTaskRow {
                                title: &title,
                                priority: (t % 3 + 1) as u8,
                                deadline: "2026-12-31",
                                information: "Seeded for the benchmark",
                                user_id: uid,
                                group_id: group,
                                now: &now,
                                state: TaskState::Todo,
                                created_by: Some(uid),
                                labels: &no_labels,
                            }
                            .to_create(),
                        );
                    }
                    last_task = store
                        .create_tasks(&creates, &now)
                        .await
                        .expect("redis")
                        .last()
                        .cloned()
                        .expect("a create")
                        .expect("seed refused");
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
    // BENCH_SEED_BULK=n: n more tasks of that user, written straight into
    // Redis (see taskmaster_tests::bulk): a list at scale.
    let bulk: u64 = std::env::var("BENCH_SEED_BULK")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if bulk > 0 {
        let started = std::time::Instant::now();
        let client = redis::Client::open(url.as_str()).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let keys = taskmaster_shared::keys::Keys::new(prefix.clone());
        taskmaster_tests::bulk::seed_tasks(&mut conn, &keys, uid, gid, bulk).await;
        eprintln!(
            "wrote {bulk} more tasks of user {uid} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
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
