//! Regression tests for what the fault run (`deploy/chaos.sh`) found, each
//! named with the seed and faults that found it, so the finding can be
//! replayed: `CHAOS_SEED=… CHAOS_FAULTS=… ./deploy/chaos.sh`.

use std::collections::HashMap;
use std::time::Duration;

use hyper::Method;
use taskmaster_tests::{Auth, ChildProcess, TestApp, eventually, shared, spawn_app};

async fn audit_backlog(app: &TestApp) -> Option<u64> {
    app.call(Method::GET, "/admin/status", &Auth::Owner, None)
        .await
        .json()["data"]["syncd"]["audit"]["backlog"]
        .as_u64()
}

/// Redis with its append-only file (`appendfsync` as given), an api on it,
/// and a syncd writing behind (hourly) into a database of its own.
pub(crate) struct Rig {
    pub redis: taskmaster_tests::RedisServer,
    pub app: TestApp,
    pub syncd: taskmaster_tests::ChildProcess,
    pub pg: tokio_postgres::Client,
}

pub(crate) async fn rig(fsync: &'static str) -> Rig {
    let redis = tokio::task::spawn_blocking(move || {
        taskmaster_tests::RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", fsync])
    })
    .await
    .expect("join")
    .expect("redis starts");
    let app =
        taskmaster_tests::spawn_app_with(redis.port, &[("REDIS_RESPONSE_TIMEOUT", "1s")]).await;
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let (syncd, pg) = app
        .syncd_process(&shared.postgres.url(&db), &[("SYNC_INTERVAL", "1h")])
        .await;
    Rig {
        redis,
        app,
        syncd,
        pg,
    }
}

/// The first task created once creates are answered (syncd has checked
/// this Redis server); panics with syncd's output when none is in 20 s.
pub(crate) async fn first_task(
    app: &TestApp,
    syncd: &ChildProcess,
    (user, group): (u64, u64),
    title: &str,
) -> u64 {
    match eventually(Duration::from_secs(20), || {
        create_task(app, user, group, title)
    })
    .await
    {
        Some(id) => id,
        None => panic!("no create answered:\n{}", syncd.output()),
    }
}

/// Redis's host crashes: the server stops, its append-only file loses
/// everything after `mark` (see `crate::redis_loss`), and it starts again.
pub(crate) async fn crash_back_to(
    redis: taskmaster_tests::RedisServer,
    mark: (std::path::PathBuf, u64),
) -> taskmaster_tests::RedisServer {
    tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.stop();
        crate::redis_loss::cut_aof_to(&mark);
        redis.start_again().expect("redis starts again");
        redis
    })
    .await
    .expect("join")
}

/// Creates a task as the owner; its id when answered 201.
pub(crate) async fn create_task(app: &TestApp, user: u64, group: u64, title: &str) -> Option<u64> {
    let res = app
        .call(
            Method::POST,
            &format!("/users/{user}/tasks"),
            &Auth::Owner,
            Some(serde_json::json!({"title": title, "group_id": group})),
        )
        .await;
    (res.status == hyper::StatusCode::CREATED)
        .then(|| res.json()["data"]["task"]["id"].as_u64())
        .flatten()
}

/// Seed 2, `CHAOS_FAULTS=kill_redis,blackhole_postgres,refuse_postgres,
/// pause_postgres,kill_postgres,flush`: after Redis was killed and
/// reloaded its append-only file, Redis counted 28,287 entries the audit
/// group had not read, though it had read the last one, and syncd showed
/// that backlog (status page, `/admin/status`, metrics) for ever. The
/// count is set wrong here by hand, as the reload left it.
#[tokio::test]
async fn a_consumer_groups_count_gone_wrong_after_a_redis_restart_shows_no_phantom_backlog() {
    let app = spawn_app().await;
    let (_admin, g, user) = app.seed_team().await;
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let (syncd, _pg) = app
        .syncd_process(&shared.postgres.url(&db), &[("SYNC_INTERVAL", "1h")])
        .await;
    for i in 0..20 {
        app.seed_task(user.id, g, &format!("logged {i}")).await;
    }
    let drained = eventually(Duration::from_secs(30), || async {
        (audit_backlog(&app).await == Some(0)).then_some(())
    })
    .await;
    assert!(drained.is_some(), "never drained:\n{}", syncd.output());

    let mut redis = app.redis().await;
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg(app.keys.changes())
        .arg("audit")
        .arg("$")
        .arg("ENTRIESREAD")
        .arg(1)
        .query_async(&mut redis)
        .await
        .expect("setid");
    let groups: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(app.keys.changes())
        .query_async(&mut redis)
        .await
        .expect("xinfo");
    let audit = groups
        .iter()
        .find(|g| matches!(g.get("name"), Some(redis::Value::BulkString(n)) if n == b"audit"))
        .expect("the audit group");
    assert!(
        matches!(audit.get("lag"), Some(redis::Value::Int(n)) if *n > 10),
        "the setup must reproduce a wrong count: {audit:?}"
    );

    // Two heartbeats later the status has looked again: nothing is behind.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(audit_backlog(&app).await, Some(0), "{}", syncd.output());
}

/// Seed 1 (every fault kind): a forced flush asked for just after the
/// active syncd was killed waited the api's whole 60 s and failed 504.
/// The request went out on pub/sub while the dead daemon's lease still
/// ran, so no daemon took it, and the standby that took over 6 s later
/// never saw it. Now the api publishes it again while no answer comes.
#[tokio::test]
async fn a_flush_asked_for_while_the_active_syncd_is_dead_is_answered_by_the_standby() {
    let shared = shared().await;
    let app =
        taskmaster_tests::spawn_app_with(shared.redis.port, &[("SYNC_REQUEST_TIMEOUT", "30s")])
            .await;
    let (_admin, g, user) = app.seed_team().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let (first, _pg) = app.syncd_process(&url, &[("SYNC_INTERVAL", "1h")]).await;
    app.wait_for_active_syncd(&first).await;
    let env = app.syncd_env(&url, &[("SYNC_INTERVAL", "1h")]);
    let standby =
        taskmaster_tests::ChildProcess::spawn("taskmaster-syncd", &env).expect("standby starts");
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.seed_task(user.id, g, "waiting for a flush").await;

    first.signal(libc::SIGKILL);
    let started = std::time::Instant::now();
    let res = app
        .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
        .await;
    assert_eq!(
        res.status,
        hyper::StatusCode::OK,
        "{} after {:?}:\n{}",
        res.text(),
        started.elapsed(),
        standby.output()
    );
    // The standby flushed what was pending when it took over, or now.
    let pg = taskmaster_tests::connect_pg(&url).await.expect("pg");
    let n: i64 = pg
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 1);
}

/// Seed 3, `CHAOS_FSYNC=everysec CHAOS_FAULTS=kill_redis,flush,kill_syncd`:
/// a crash of Redis's host that took its last second, when no flush fell
/// in that second (the usual case: flushes are minutes apart), left no
/// sign, so its id counters went back and handed out again ids already
/// answered: 37 ids went to two creates. Now every restart skips ahead,
/// and the owner's views, which read every task by id, step over the
/// skipped ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_crash_that_loses_its_last_second_between_flushes_hands_out_no_id_twice() {
    use crate::redis_loss::newest_aof;

    let Rig {
        redis, app, syncd, ..
    } = rig("everysec").await;
    let (_admin, g, user) = app.seed_team().await;
    let create = |title: &'static str| create_task(&app, user.id, g, title);
    // syncd has checked this server once: creates are answered.
    first_task(&app, &syncd, (user.id, g), "before").await;

    let mark = newest_aof(&redis);
    let lost = create("lost with the last second").await.expect("answered");
    let mut redis = crash_back_to(redis, mark).await;
    let after = eventually(Duration::from_secs(30), || create("after the crash")).await;
    let after = after.expect("creates resume once syncd checked the restarted server");
    assert!(
        after > lost,
        "id {after} was handed out again (the lost create had {lost}):\n{}",
        syncd.output()
    );

    // The owner's view of every task reads ids in order, over the skip.
    let res = app
        .call(Method::GET, "/tasks/filter?sort=id", &Auth::Owner, None)
        .await;
    let ids: Vec<u64> = res.json()["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    assert!(ids.contains(&after) && !ids.contains(&lost), "{ids:?}");
    let mut conn = app.redis().await;
    let gaps: Vec<String> = redis::cmd("ZRANGE")
        .arg(app.keys.task_id_gaps())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("gaps");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    drop(syncd);
    let _ = tokio::task::spawn_blocking(move || redis.stop()).await;
}

/// Seed 7, `CHAOS_FSYNC=everysec`: in the second between a Redis restart
/// and syncd's check, only creates waited; updates and deletes were
/// answered, then lost when the check rebuilt Redis from PostgreSQL. Now
/// every write waits (503, `Retry-After: 1`) on a server syncd has not
/// checked, reads go on, and writes resume once it has. A server counts as
/// unchecked while `P meta:ids_run` names another run id, set so here.
#[tokio::test]
async fn on_a_redis_server_syncd_has_not_checked_writes_wait_and_reads_go_on() {
    let app = spawn_app().await;
    let (admin, g, user) = app.seed_team().await;
    let task = app.seed_task(user.id, g, "before").await;
    let other = app.seed_user("user", &[]).await;
    let mut conn = app.redis().await;
    let () = redis::cmd("SET")
        .arg(app.keys.ids_run())
        .arg("0123456789abcdef0123456789abcdef01234567")
        .query_async(&mut conn)
        .await
        .expect("set");
    let u = user.id;
    let writes: Vec<(&str, Auth, Method, String, Option<serde_json::Value>)> = vec![
        (
            "task create",
            Auth::Owner,
            Method::POST,
            format!("/users/{u}/tasks"),
            Some(serde_json::json!({"title": "x", "group_id": g})),
        ),
        (
            "task update",
            Auth::Owner,
            Method::PUT,
            format!("/users/{u}/tasks/{task}"),
            Some(serde_json::json!({"title": "after"})),
        ),
        (
            "task done",
            Auth::Owner,
            Method::PUT,
            format!("/users/{u}/tasks/{task}/done"),
            None,
        ),
        (
            "task delete",
            Auth::Owner,
            Method::DELETE,
            format!("/users/{u}/tasks/{task}"),
            None,
        ),
        (
            "batch",
            Auth::Owner,
            Method::POST,
            "/tasks/batch".into(),
            Some(serde_json::json!({"action": "mark_done", "task_ids": [task]})),
        ),
        (
            "user update",
            Auth::Owner,
            Method::PUT,
            format!("/users/{u}"),
            Some(serde_json::json!({"full_name": "Renamed"})),
        ),
        (
            "work times",
            Auth::Owner,
            Method::PUT,
            format!("/users/{u}/worktimes"),
            Some(serde_json::json!({"work_times": {"Monday": 8}})),
        ),
        (
            "member add",
            Auth::Owner,
            Method::POST,
            format!("/groups/{g}/users"),
            Some(serde_json::json!({"user_id": other.id})),
        ),
        (
            "member remove",
            Auth::Owner,
            Method::DELETE,
            format!("/groups/{g}/users/{u}"),
            None,
        ),
        (
            "group rename",
            Auth::Owner,
            Method::PUT,
            format!("/groups/{g}"),
            Some(serde_json::json!({"name": "Renamed group"})),
        ),
        (
            "group delete",
            Auth::Owner,
            Method::DELETE,
            format!("/groups/{g}"),
            None,
        ),
        (
            "user delete",
            Auth::Owner,
            Method::DELETE,
            format!("/users/{}", other.id),
            None,
        ),
        (
            "webhook create",
            Auth::Owner,
            Method::POST,
            "/webhooks".into(),
            Some(serde_json::json!({"url": "http://203.0.113.5/h", "events": ["task.created"]})),
        ),
        (
            "token create",
            user.auth(),
            Method::POST,
            "/auth/tokens".into(),
            Some(serde_json::json!({"name": "t"})),
        ),
    ];
    for (what, who, method, path, body) in &writes {
        let res = app.call(method.clone(), path, who, body.clone()).await;
        assert_eq!(
            res.status,
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {}",
            res.text()
        );
        assert_eq!(res.header("retry-after"), Some("1"), "{what}");
        assert!(
            res.json()["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("Storage restarted")),
            "{what}: {}",
            res.text()
        );
    }
    // Reads go on, and show nothing changed.
    let res = app
        .call(
            Method::GET,
            &format!("/users/{u}/tasks/{task}"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, hyper::StatusCode::OK);
    assert_eq!(res.json()["data"]["title"], "before");
    let res = app
        .call(Method::GET, &format!("/groups/{g}"), &admin.auth(), None)
        .await;
    assert_eq!(res.status, hyper::StatusCode::OK);

    // Checked (syncd records this server's run id): writes resume.
    let () = redis::cmd("DEL")
        .arg(app.keys.ids_run())
        .query_async(&mut conn)
        .await
        .expect("del");
    for (what, who, method, path, body) in &writes[..2] {
        let res = app.call(method.clone(), path, who, body.clone()).await;
        assert!(res.status.is_success(), "{what}: {}", res.text());
    }
}

/// Seed 1206, `everysec`, long: a client was answered a user's task list
/// from before a crash of Redis's host, with a task the crash had lost.
/// The api keeps a user's list under its version (`tv`, bumped by every
/// change of the user's tasks); the crash took `tv` back with the lost
/// second, the next create brought it to the kept version again, and the
/// kept answer matched. Kept lists (whole, and first pages) now also carry
/// how many connections the shard had dialed when their version was read:
/// the restarted server is only reached through new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_list_kept_before_a_redis_crash_is_not_answered_once_the_crash_took_its_version_back()
 {
    use crate::redis_loss::newest_aof;

    let Rig {
        redis, app, syncd, ..
    } = rig("everysec").await;
    let (_admin, g, user) = app.seed_team().await;
    first_task(&app, &syncd, (user.id, g), "before").await;
    let paths = [
        format!("/users/{}/tasks", user.id),
        format!("/users/{}/tasks?limit=10", user.id),
    ];
    let titles = |path: String| {
        let app = &app;
        async move {
            let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
            assert_eq!(res.status, hyper::StatusCode::OK, "{path}: {}", res.text());
            res.json()["data"]["tasks"]
                .as_array()
                .expect("tasks")
                .iter()
                .filter_map(|t| t["title"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };

    let mark = newest_aof(&redis);
    create_task(&app, user.id, g, "lost")
        .await
        .expect("answered");
    // Kept by whichever shards answer (each keeps its own).
    for _ in 0..4 {
        for path in &paths {
            assert!(titles(path.clone()).await.contains(&"lost".to_owned()));
        }
    }
    let mut redis = crash_back_to(redis, mark).await;
    let after = eventually(Duration::from_secs(30), || {
        create_task(&app, user.id, g, "after")
    })
    .await;
    after.expect("creates resume once syncd checked the restarted server");
    for _ in 0..4 {
        for path in &paths {
            let seen = titles(path.clone()).await;
            assert!(
                seen.contains(&"after".to_owned()) && !seen.contains(&"lost".to_owned()),
                "{path} answered {seen:?}"
            );
        }
    }
    drop(syncd);
    let _ = tokio::task::spawn_blocking(move || redis.stop()).await;
}
