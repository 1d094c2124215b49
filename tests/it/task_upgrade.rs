//! Data from before task states and labels: task rows of the older shape
//! in Redis, rows of the older schema in PostgreSQL, and backups of the
//! older format all read as the task they were (`done` or `todo` by their
//! status, no creator, no labels), and come out in the current shape
//! through a write, a flush and a restore.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_shared::model::is_current_task_row;
use taskmaster_tests::{Auth, TestApp, connect_pg, shared, spawn_app};

use crate::restore::{
    admin_sync, backup_dir, backup_now, backup_text, syncd_for, write_older_backup,
};
use crate::sync::assert_same;

/// Rewrites task `tid`'s Redis row in the shape written before states
/// existed, as an older api left it.
async fn make_old(app: &TestApp, tid: u64, user: u64, group: u64, done: bool) {
    // In the older scripts' field order (a JSON map would sort it).
    let old = format!(
        r#"{{"id":{tid},"title":"old {tid}","status":{done},"priority":3,"deadline":"2001-02-03","information":"from before","user_id":{user},"group_id":{group},"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-02T00:00:00.5Z"}}"#
    );
    let mut redis = app.redis().await;
    let _: () = redis::cmd("SET")
        .arg(app.keys.row(taskmaster_shared::keys::RowType::Task, tid))
        .arg(old)
        .query_async(&mut redis)
        .await
        .expect("set");
    // The row changed under the list's version: a new version, as every
    // write gives.
    let _: () = redis::cmd("HINCRBY")
        .arg(app.keys.row(taskmaster_shared::keys::RowType::User, user))
        .arg("tv")
        .arg(1)
        .query_async(&mut redis)
        .await
        .expect("hincrby");
}

async fn raw_row(app: &TestApp, tid: u64) -> Vec<u8> {
    let mut redis = app.redis().await;
    redis::cmd("GET")
        .arg(app.keys.row(taskmaster_shared::keys::RowType::Task, tid))
        .query_async(&mut redis)
        .await
        .expect("get")
}

#[tokio::test]
async fn task_rows_from_before_states_read_by_their_status_and_upgrade_through_a_flush_and_a_restore()
 {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, pg) = syncd_for(&app, &dir).await;
    let (admin, group, u) = app.seed_team().await;
    let mut ids = Vec::new();
    for (i, done) in [true, false, true].into_iter().enumerate() {
        let tid = app.seed_task(u.id, group, &format!("t{i}")).await;
        make_old(&app, tid, u.id, group, done).await;
        assert!(!is_current_task_row(&raw_row(&app, tid).await));
        ids.push(tid);
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let path = |tid: u64| format!("/users/{}/tasks/{tid}", u.id);

    // Every read answers the current shape: one task, the lists (the
    // owner's and the user's own are spliced from the stored rows), the
    // views across users.
    for (tid, state) in [(a, "done"), (b, "todo")] {
        let res = app.call(Method::GET, &path(tid), &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert!(is_current_task_row(
            res.text()
                .strip_prefix(r#"{"success":true,"data":"#)
                .and_then(|t| t.strip_suffix('}'))
                .expect("enveloped")
                .as_bytes()
        ));
        let t = res.json()["data"].clone();
        assert_eq!(t["state"], state);
        assert_eq!(t["status"], state == "done");
        assert_eq!(t["created_by"], Value::Null);
        assert_eq!(t["labels"], json!([]));
        assert_eq!(t["completed_at"], Value::Null);
        assert_eq!(t["title"], format!("old {tid}"));
    }
    for (p, auth) in [
        (format!("/users/{}/tasks", u.id), u.auth()),
        (format!("/users/{}/tasks", u.id), admin.auth()),
        (format!("/users/{}/tasks?state=done", u.id), u.auth()),
        (format!("/groups/{group}/tasks"), admin.auth()),
        ("/tasks/filter".into(), Auth::Owner),
    ] {
        let res = app.call(Method::GET, &p, &auth, None).await;
        assert_eq!(res.status, StatusCode::OK, "{p}: {}", res.text());
        let tasks = res.json()["data"]["tasks"]
            .as_array()
            .expect("tasks")
            .clone();
        let expected = if p.contains("state=done") { 2 } else { 3 };
        assert_eq!(tasks.len(), expected, "{p}: {}", res.text());
        for t in &tasks {
            let done = t["id"] != b;
            assert_eq!(t["state"], if done { "done" } else { "todo" }, "{p}: {t}");
            assert_eq!(t["labels"], json!([]), "{p}");
        }
    }
    let res = app.call(Method::GET, "/tasks/stats", &u.auth(), None).await;
    assert_eq!(
        res.json()["data"]["state_counts"],
        json!({"todo": 1, "in_progress": 0, "done": 2})
    );

    // A write upgrades the row it writes; the others stay as they are
    // until they change.
    let res = app
        .call(
            Method::PUT,
            &path(c),
            &u.auth(),
            Some(json!({"state": "in_progress", "add_labels": ["upgraded"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let t = res.json()["data"]["task"].clone();
    assert_eq!(t["state"], "in_progress");
    assert_eq!(t["status"], false);
    assert_eq!(t["labels"], json!(["upgraded"]));
    assert_eq!(t["title"], format!("old {c}"));
    assert_eq!(t["information"], "from before");
    assert!(is_current_task_row(&raw_row(&app, c).await));
    assert!(!is_current_task_row(&raw_row(&app, a).await));

    // Flushed, every row is in PostgreSQL with its state.
    let res = admin_sync(&app, "action=force").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let rows = pg
        .query(
            "SELECT id, state, status, created_by, labels FROM tasks WHERE id = ANY($1) ORDER BY id",
            &[&ids.iter().map(|i| *i as i64).collect::<Vec<_>>()],
        )
        .await
        .expect("tasks");
    let got: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!([
                r.get::<_, i64>(0),
                r.get::<_, String>(1),
                r.get::<_, bool>(2),
                r.get::<_, Option<i64>>(3),
                r.get::<_, Vec<String>>(4)
            ])
        })
        .collect();
    assert_eq!(
        got,
        vec![
            json!([a, "done", true, null, []]),
            json!([b, "todo", false, null, []]),
            json!([c, "in_progress", false, null, ["upgraded"]]),
        ]
    );
    assert_same(&app, &pg).await;

    // A restore writes every row back in the current shape.
    let before = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks", u.id),
            &u.auth(),
            None,
        )
        .await
        .json();
    let res = admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for tid in &ids {
        assert!(is_current_task_row(&raw_row(&app, *tid).await), "{tid}");
    }
    let after = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks", u.id),
            &u.auth(),
            None,
        )
        .await
        .json();
    assert_eq!(after, before);
    assert_same(&app, &pg).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_migration_gives_existing_rows_their_state_by_status_and_no_creator() {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let pg = connect_pg(&shared.postgres.url(&db))
        .await
        .expect("connect");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let sql = |name: &str| {
        std::fs::read_to_string(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    for name in [
        "V1__initial_schema.sql",
        "V2__sync_fence.sql",
        "V3__sync_state.sql",
        "V4__accounts.sql",
    ] {
        pg.batch_execute(&sql(name)).await.expect(name);
    }
    pg.batch_execute(
        "INSERT INTO users (id, full_name, email, role, password_hash, created_at, updated_at)
             VALUES (1, 'A', 'a@example.com', 'user', '$argon2id$x', now(), now());
         INSERT INTO groups (id, name, admin_id, created_at, updated_at) VALUES (1, 'G', 1, now(), now());
         INSERT INTO tasks (id, title, status, priority, user_id, group_id, created_at, updated_at)
             VALUES (1, 'open', false, 2, 1, 1, now(), now()), (2, 'closed', true, 2, 1, 1, now(), now());",
    )
    .await
    .expect("rows of the older schema");
    pg.batch_execute(&sql("V5__task_states_labels.sql"))
        .await
        .expect("V5");
    let rows = pg
        .query(
            "SELECT id, state, created_by, labels, completed_at IS NULL FROM tasks ORDER BY id",
            &[],
        )
        .await
        .expect("tasks");
    let got: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!([
                r.get::<_, i64>(0),
                r.get::<_, String>(1),
                r.get::<_, Option<i64>>(2),
                r.get::<_, Vec<String>>(3),
                r.get::<_, bool>(4)
            ])
        })
        .collect();
    assert_eq!(
        got,
        vec![
            json!([1, "todo", null, [], true]),
            json!([2, "done", null, [], true])
        ]
    );
    // From now on the two cannot disagree, and a label list stays short.
    for bad in [
        "UPDATE tasks SET status = true WHERE id = 1",
        "UPDATE tasks SET state = 'in_progress' WHERE id = 2",
        "UPDATE tasks SET state = 'later' WHERE id = 1",
        "UPDATE tasks SET completed_at = now() WHERE id = 1",
        "UPDATE tasks SET labels = array_fill('x'::text, ARRAY[21]) WHERE id = 1",
    ] {
        assert!(pg.batch_execute(bad).await.is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_backup_from_before_states_restores_its_tasks_done_or_todo_by_status() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = syncd_for(&app, &dir).await;
    let (_, group, u) = app.seed_team().await;
    let mut expected = Vec::new();
    for state in ["todo", "in_progress", "done"] {
        let res = app
            .call(
                Method::POST,
                &format!("/users/{}/tasks", u.id),
                &u.auth(),
                Some(json!({"title": state, "group_id": group, "state": state, "labels": ["l"]})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        // Version 2 had the status only: in progress was "not done".
        let old_state = if state == "done" { "done" } else { "todo" };
        expected.push((res.json()["data"]["task"]["id"].clone(), old_state));
    }
    let file = backup_now(&app).await;
    let name = write_older_backup(&dir, &backup_text(&dir, &file), 2);

    let fresh = spawn_app().await;
    let (_fresh_syncd, fresh_pg) = syncd_for(&fresh, &dir).await;
    let res = admin_sync(&fresh, &format!("action=restore&from={name}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for (tid, state) in expected {
        let t = fresh.task(u.id, tid.as_u64().expect("id"), &u.auth()).await;
        assert_eq!(t["state"], state, "{t}");
        assert_eq!(t["status"], state == "done");
        assert_eq!(t["labels"], json!([]));
        assert_eq!(t["created_by"], Value::Null);
    }
    // The label index is empty (no labels came back), and what was
    // restored is what PostgreSQL holds.
    let res = fresh
        .call(
            Method::GET,
            &format!("/groups/{group}/labels"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.json()["data"]["count"], 0);
    assert_same(&fresh, &fresh_pg).await;
    let _ = std::fs::remove_dir_all(&dir);
}
