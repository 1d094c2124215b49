//! `/admin/*` and the control channel, against a real syncd process.

use std::collections::HashMap;
use std::time::Duration;

use hyper::{Method, StatusCode};
use taskmaster_tests::{
    Auth, ChildProcess, TestApp, connect_pg, eventually, shared, spawn_app_with,
};

use crate::sync::assert_same;

/// An api (with `SYNC_REQUEST_TIMEOUT=2s` and the `extra` variables) and a
/// syncd on a fresh database, once syncd reports running.
pub(crate) async fn app_syncd_env_with(
    extra: &[(&str, &str)],
) -> (
    TestApp,
    ChildProcess,
    tokio_postgres::Client,
    HashMap<String, String>,
) {
    let shared = shared().await;
    let mut vars = vec![("SYNC_REQUEST_TIMEOUT", "2s")];
    vars.extend_from_slice(extra);
    let app = spawn_app_with(shared.redis.port, &vars).await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let env = app.syncd_env(&url, &[("SYNC_INTERVAL", "1h")]);
    let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");
    app.wait_for_active_syncd(&syncd).await;
    (app, syncd, connect_pg(&url).await.expect("pg"), env)
}

#[tokio::test]
async fn force_flushes_through_the_control_channel_and_the_admin_views_report_it() {
    let (app, syncd, pg, env) = app_syncd_env_with(&[]).await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    app.seed_task(admin.id, g, "one").await;
    app.seed_task(admin.id, g, "two").await;

    let before = app
        .call(Method::GET, "/admin/status", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(before["data"]["pending_changes"], true, "{before}");
    assert_eq!(
        before["data"]["dirty_types"],
        serde_json::json!(["users", "groups", "tasks"])
    );
    // syncd flushed as it became active: a fresh system with changes
    // waiting less than two intervals is healthy.
    assert_ne!(before["data"]["last_sync"], "0001-01-01T00:00:00Z");
    assert_eq!(before["data"]["healthy"], true, "{before}");

    let res = app
        .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{}\n{}",
        res.text(),
        syncd.output()
    );
    let body = res.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Sync completed successfully");
    assert_eq!(body["action"], "force");
    // The admin, its group and two tasks (the owner went in at start).
    assert_eq!(body["data"]["rows"], 4, "{body}");
    assert_same(&app, &pg).await;

    let after = app
        .call(Method::GET, "/admin/status", &Auth::Owner, None)
        .await
        .json();
    let d = &after["data"];
    assert_eq!(d["running"], true);
    assert_eq!(d["healthy"], true, "{after}");
    assert_eq!(d["pending_changes"], false);
    assert_eq!(d["dirty_types"], serde_json::json!([]));
    assert_eq!(d["interval"], "1h0m0s");
    assert_eq!(d["postgres_status"], "connected");
    assert_eq!(d["redis_status"], "connected");
    // The reference's objects, which its clients read.
    let pg_target = &d["postgres"];
    assert_eq!(pg_target["status"], "connected", "{after}");
    assert_eq!(
        format!(
            "postgres://postgres@{}:{}/{}",
            pg_target["host"].as_str().unwrap_or("?"),
            pg_target["port"],
            pg_target["database"].as_str().unwrap_or("?")
        ),
        env["DATABASE_URL"],
        "{after}"
    );
    assert_eq!(d["redis"]["status"], "connected", "{after}");
    assert_eq!(
        format!("redis://{}", d["redis"]["address"].as_str().unwrap_or("?")),
        app.redis_url,
        "{after}"
    );
    assert_eq!(d["redis"]["database"], 0, "{after}");
    assert_eq!(d["configuration"]["sync_interval"], "1h0m0s", "{after}");
    assert_eq!(d["configuration"]["environment"], "development", "{after}");
    assert!(d["configuration"]["api_port"].is_u64(), "{after}");
    assert_ne!(d["last_sync"], "0001-01-01T00:00:00Z");
    assert!(d["time_since_last_sync"].is_string());

    let stats = app
        .call(Method::GET, "/admin/stats", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(
        stats["data"]["redis"],
        serde_json::json!({"users": 2, "groups": 1, "tasks": 2, "webhooks": 0})
    );
    assert_eq!(
        stats["data"]["postgresql"], stats["data"]["redis"],
        "{stats}"
    );
    assert_eq!(stats["data"]["sync"]["running"], true);

    let backup = app
        .call(
            Method::POST,
            "/admin/sync?action=backup",
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(backup.status, StatusCode::OK, "{}", backup.text());
    assert_eq!(backup.json()["message"], "Backup completed successfully");
    assert_eq!(
        backup.json()["data"]["rows"]["tasks"],
        2,
        "{}",
        backup.text()
    );
    // The backup is recorded in syncd's status.
    let recorded = app
        .call(Method::GET, "/admin/status", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(
        recorded["data"]["syncd"]["last_backup"]["file"],
        backup.json()["data"]["file"],
        "{recorded}"
    );
    let status = app
        .call(
            Method::POST,
            "/admin/sync?action=status",
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.json()["data"]["pid"], syncd.pid());
}

#[tokio::test]
async fn a_paused_syncd_gets_504_and_answers_again_when_resumed() {
    // The general time limit is shorter than the wait for syncd: a sync
    // request must still get the whole wait and its 504, not a 503 at 1 s.
    let (app, syncd, _pg, _env) = app_syncd_env_with(&[("REQUEST_TIMEOUT", "1s")]).await;
    syncd.signal(libc::SIGSTOP);
    let started = std::time::Instant::now();
    let res = app
        .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
        .await;
    let waited = started.elapsed();
    syncd.signal(libc::SIGCONT);
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT, "{}", res.text());
    assert!(
        waited >= Duration::from_secs(2),
        "answered after {waited:?}"
    );
    assert_eq!(res.json()["success"], false);
    let res = app
        .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // No action is a push too, and the answer echoes the action as given.
    let res = app
        .call(Method::POST, "/admin/sync", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["message"], "Sync completed successfully", "{body}");
    assert_eq!(body["action"], "", "{body}");
}

#[tokio::test]
async fn without_a_daemon_sync_is_503_and_bad_actions_are_400() {
    let shared = shared().await;
    let app = spawn_app_with(shared.redis.port, &[]).await;
    // No action is a push, as in the reference.
    for path in [
        "/admin/sync?action=force",
        "/admin/sync",
        "/admin/sync?action=",
    ] {
        let res = app.call(Method::POST, path, &Auth::Owner, None).await;
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            res.text()
        );
    }
    for path in ["/admin/sync?action=nuke", "/admin/sync?action=%22%7D"] {
        let res = app.call(Method::POST, path, &Auth::Owner, None).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            res.text()
        );
    }
    let status = app
        .call(Method::GET, "/admin/status", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(status["data"]["running"], false);
    assert_eq!(status["data"]["healthy"], false);
    assert_eq!(status["data"]["last_sync"], "0001-01-01T00:00:00Z");
    let user = app.seed_user("user", &[]).await;
    for (method, path) in [
        (Method::GET, "/admin/status"),
        (Method::GET, "/admin/stats"),
        (Method::POST, "/admin/sync?action=force"),
    ] {
        let res = app.call(method, path, &user.auth(), None).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn only_one_syncd_is_active_and_a_standby_takes_over_when_it_dies() {
    let (app, active, pg, env) = app_syncd_env_with(&[]).await;
    let standby = ChildProcess::spawn("taskmaster-syncd", &env).expect("second syncd starts");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = app
        .call(
            Method::POST,
            "/admin/sync?action=status",
            &Auth::Owner,
            None,
        )
        .await
        .json();
    assert_eq!(status["data"]["pid"], active.pid(), "{status}");

    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    app.seed_task(admin.id, g, "before the failover").await;
    let res = app
        .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_same(&app, &pg).await;
    assert!(
        !standby.output().contains("now the active"),
        "two active daemons:\n{}",
        standby.output()
    );

    active.signal(libc::SIGKILL);
    let took_over = eventually(Duration::from_secs(20), || async {
        let s = app
            .call(Method::GET, "/admin/status", &Auth::Owner, None)
            .await
            .json();
        (s["data"]["running"] == true && s["data"]["syncd"]["pid"] == standby.pid()).then_some(())
    })
    .await;
    assert!(
        took_over.is_some(),
        "the standby never took over:\n{}",
        standby.output()
    );

    app.seed_task(admin.id, g, "after the failover").await;
    let res = app
        .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{}\n{}",
        res.text(),
        standby.output()
    );
    assert_same(&app, &pg).await;
}

/// Creates, edits and deletes tasks of `admin` in group `g` until `stop`;
/// answers how many writes it sent.
pub(crate) fn churn(
    app: std::sync::Arc<TestApp>,
    admin: u64,
    g: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        let mut ids: Vec<u64> = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            match n % 4 {
                0 if !ids.is_empty() => {
                    let id = ids.remove(0);
                    app.call(
                        Method::DELETE,
                        &format!("/users/{admin}/tasks/{id}"),
                        &Auth::Owner,
                        None,
                    )
                    .await;
                }
                1 if !ids.is_empty() => {
                    let id = ids[ids.len() / 2];
                    let body =
                        serde_json::json!({"title": format!("edit {n}"), "priority": n % 3 + 1});
                    app.call(
                        Method::PUT,
                        &format!("/users/{admin}/tasks/{id}"),
                        &Auth::Owner,
                        Some(body),
                    )
                    .await;
                }
                _ => ids.push(app.seed_task(admin, g, &format!("task {n}")).await),
            }
        }
        n
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_syncd_at_random_moments_loses_and_resurrects_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let (app, first, pg, mut env) = app_syncd_env_with(&[]).await;
    first.signal(libc::SIGKILL);
    drop(first);
    // Flush on every write, so that kills land in the middle of flushes.
    env.insert("SYNC_MAX_PENDING".into(), "1".into());
    let app = Arc::new(app);
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = churn(app.clone(), admin.id, g, stop.clone());

    let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(std::process::id());
    let mut kills = 0;
    for _ in 0..20 {
        let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(300 + seed % 700)).await;
        syncd.signal(libc::SIGKILL);
        drop(syncd);
        kills += 1;
        // A killed daemon's lease would expire on its own; skip the wait.
        let mut redis = app.redis().await;
        let _: () = redis::cmd("DEL")
            .arg(app.keys.syncd_lease())
            .query_async(&mut redis)
            .await
            .expect("del");
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await.expect("writer");

    let last = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");
    let flushed = eventually(Duration::from_secs(20), || async {
        let res = app
            .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
            .await;
        (res.status == StatusCode::OK).then_some(())
    })
    .await;
    assert!(
        flushed.is_some(),
        "the last syncd never flushed:\n{}",
        last.output()
    );
    assert_same(&app, &pg).await;
    let in_pg: i64 = pg
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .expect("count")
        .get(0);
    let in_redis = app
        .call(Method::GET, "/tasks/stats", &Auth::Owner, None)
        .await
        .json()["data"]["total_tasks"]
        .clone();
    eprintln!(
        "{kills} kills during {writes} writes: {in_pg} tasks in PostgreSQL, {in_redis} in Redis, 0 lost, 0 resurrected"
    );
    assert_eq!(serde_json::json!(in_pg), in_redis);
}

async fn status(app: &TestApp) -> serde_json::Value {
    app.call(Method::GET, "/admin/status", &Auth::Owner, None)
        .await
        .json()["data"]
        .clone()
}

#[tokio::test]
async fn while_postgres_is_down_the_api_answers_pending_grows_and_then_it_converges() {
    use taskmaster_tests::PostgresServer;

    let shared = shared().await;
    let app = spawn_app_with(shared.redis.port, &[]).await;
    let mut postgres = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .expect("join")
        .expect("postgres starts");
    let url = postgres.url("postgres");
    let env = app.syncd_env(
        &url,
        &[("SYNC_INTERVAL", "1s"), ("DB_CONNECT_TIMEOUT", "1s")],
    );
    let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");
    let running = eventually(Duration::from_secs(30), || async {
        (status(&app).await["running"] == true).then_some(())
    })
    .await;
    assert!(running.is_some(), "syncd never ran:\n{}", syncd.output());

    let postgres_stopped = tokio::task::spawn_blocking(move || {
        postgres.stop();
        postgres
    });
    let mut postgres = postgres_stopped.await.expect("join");
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    for i in 0..5 {
        app.seed_task(
            admin.id,
            g,
            &format!("written while PostgreSQL is down {i}"),
        )
        .await;
    }
    let reported = eventually(Duration::from_secs(30), || async {
        let s = status(&app).await;
        (s["postgres_status"] == "error" && s["pending_changes"] == true && s["healthy"] == false)
            .then_some(s)
    })
    .await;
    assert!(
        reported.is_some(),
        "the outage never showed in /admin/status:\n{}",
        syncd.output()
    );
    assert_eq!(reported.expect("status")["pending"]["tasks"], 5);

    postgres = tokio::task::spawn_blocking(move || {
        postgres.restart().expect("postgres restarts");
        postgres
    })
    .await
    .expect("join");
    let converged = eventually(Duration::from_secs(60), || async {
        let s = status(&app).await;
        (s["pending_changes"] == false && s["postgres_status"] == "connected").then_some(())
    })
    .await;
    assert!(converged.is_some(), "never converged:\n{}", syncd.output());
    let pg = connect_pg(&url).await.expect("pg");
    assert_same(&app, &pg).await;
    drop(postgres);
}
