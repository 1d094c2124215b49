//! Redis losing its last second: after a crash of its host, Redis comes
//! back from an append-only file that lacks the writes of up to a second
//! (`appendfsync everysec`), while PostgreSQL already holds rows a flush
//! took from it (issue 17 item 9).
//!
//! A `kill -9` of Redis alone loses nothing (what Redis wrote is in the
//! kernel's page cache), so the lost second is simulated the way a host
//! crash leaves it: the unsynced tail of the append-only file is cut off
//! before Redis starts again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::{Method, StatusCode};
use taskmaster_tests::{
    Auth, ChildProcess, RedisServer, TestApp, connect_pg, eventually, shared, spawn_app_with,
};

use crate::sync::assert_same;

/// The newest append-only file and its length.
pub(crate) fn newest_aof(redis: &RedisServer) -> (std::path::PathBuf, u64) {
    let dir = redis.data_dir().join("appendonlydir");
    let newest = std::fs::read_dir(&dir)
        .expect("appendonlydir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .max()
        .expect("an incremental append-only file");
    let len = std::fs::metadata(&newest).expect("metadata").len();
    (newest, len)
}

/// Cuts the append-only file back to what it held at `mark`.
pub(crate) fn cut_aof_to(mark: &(std::path::PathBuf, u64)) -> u64 {
    let (path, keep) = mark;
    let len = std::fs::metadata(path).expect("metadata").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    file.set_len(*keep).expect("truncate");
    len - keep
}

/// What a run saw: acknowledged creates, and how many of them are gone.
struct Outcome {
    acknowledged: usize,
    lost: usize,
}

/// Creates tasks without pause (each title names its write) while Redis is
/// killed and restarted (with its last second cut off when `lose_last_second`),
/// then checks that no row PostgreSQL holds belongs to another write than
/// the one that was answered with its id.
async fn crash_redis_under_writes(fsync: &str, lose_last_second: bool) -> Outcome {
    let redis = tokio::task::spawn_blocking({
        let fsync = fsync.to_owned();
        move || RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", &fsync])
    })
    .await
    .expect("join")
    .expect("redis starts");
    let app = Arc::new(spawn_app_with(redis.port, &[("REDIS_RESPONSE_TIMEOUT", "1s")]).await);
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    // Flush on every write, so that PostgreSQL is always close behind.
    let env = app.syncd_env(&url, &[("SYNC_INTERVAL", "1h"), ("SYNC_MAX_PENDING", "1")]);
    let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");
    let pg = connect_pg(&url).await.expect("pg");
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;

    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (app, acked, stop) = (app.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move { write_until(&app, admin.id, g, &acked, &stop).await })
    };
    let flushed_some = eventually(Duration::from_secs(20), || async {
        let n: i64 = pg
            .query_one("SELECT count(*) FROM tasks", &[])
            .await
            .ok()?
            .get(0);
        (n >= 50).then_some(())
    })
    .await;
    assert!(
        flushed_some.is_some(),
        "nothing was written behind:\n{}",
        syncd.output()
    );

    // The last second before the kill is what a host crash may take.
    let mark = newest_aof(&redis);
    let before_last_second = acked.lock().expect("acked").len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_kill = acked.lock().expect("acked").len();
    let mut redis = tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.stop();
        if lose_last_second {
            let cut = cut_aof_to(&mark);
            eprintln!("cut the last second ({cut} bytes) off the append-only file");
        }
        redis.restart().expect("redis starts again");
        redis
    })
    .await
    .expect("join");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let refused = writer.await.expect("writer");

    let flushed = eventually(Duration::from_secs(30), || async {
        let res = app
            .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
            .await;
        (res.status == StatusCode::OK).then_some(())
    })
    .await;
    assert!(
        flushed.is_some(),
        "no flush after the restart:\n{}",
        syncd.output()
    );

    let acked = acked.lock().expect("acked").clone();
    let acked_as: BTreeMap<&str, u64> = acked.iter().map(|(id, t)| (t.as_str(), *id)).collect();
    let rows = pg
        .query("SELECT id, title FROM tasks ORDER BY id", &[])
        .await
        .expect("tasks");
    for row in &rows {
        let (id, title): (i64, String) = (row.get(0), row.get(1));
        let id = id as u64;
        // A write Redis did without its answer reaching the client (the
        // kill came between) may be there too, under an id of its own.
        match acked.get(&id) {
            Some(answered) => assert_eq!(
                answered, &title,
                "task {id} in PostgreSQL is not the write that was answered with its id"
            ),
            None => assert!(
                !acked_as.contains_key(title.as_str()),
                "task {id} in PostgreSQL holds write {title:?}, answered with id {:?}",
                acked_as.get(title.as_str())
            ),
        }
    }
    assert_same(&app, &pg).await;
    let kept: std::collections::BTreeSet<u64> =
        rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect();
    let lost = acked.keys().filter(|id| !kept.contains(id)).count();
    let last_second = at_kill - before_last_second;
    eprintln!(
        "appendfsync {fsync}, last second lost: {lose_last_second}: {} creates acknowledged \
         ({last_second} in the last second before the kill), {lost} lost, {refused} refused or unanswered",
        acked.len()
    );
    // At most the last second's writes, and those answered while the kill
    // was being delivered.
    assert!(
        lost <= last_second + 5,
        "{lost} lost, {last_second} in the last second"
    );
    drop(syncd);
    let _ = tokio::task::spawn_blocking(move || redis.stop()).await;
    Outcome {
        acknowledged: acked.len(),
        lost,
    }
}

/// Creates tasks until `stop`; records each acknowledged one's title by
/// id; returns how many were refused.
async fn write_until(
    app: &TestApp,
    user: u64,
    group: u64,
    acked: &Mutex<BTreeMap<u64, String>>,
    stop: &AtomicBool,
) -> usize {
    let mut refused = 0;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let title = format!("write {n}");
        let body = serde_json::json!({"title": title, "group_id": group});
        let res = app
            .call(
                Method::POST,
                &format!("/users/{user}/tasks"),
                &Auth::Owner,
                Some(body),
            )
            .await;
        match res.json()["data"]["task"]["id"].as_u64() {
            Some(id) if res.status == StatusCode::CREATED => {
                let previous = acked.lock().expect("acked").insert(id, title);
                assert!(previous.is_none(), "id {id} was handed out twice");
            }
            _ => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_loses_its_last_writes_no_id_is_handed_out_twice_and_no_row_overwritten() {
    let outcome = crash_redis_under_writes("everysec", true).await;
    assert!(outcome.acknowledged > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_appendfsync_always_a_killed_redis_loses_no_acknowledged_write() {
    let outcome = crash_redis_under_writes("always", false).await;
    assert_eq!(outcome.lost, 0, "of {}", outcome.acknowledged);
}
