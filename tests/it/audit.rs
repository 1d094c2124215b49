//! The audit log: one record per change log entry, with its actor, how it
//! authenticated, its request and what changed; appended to PostgreSQL by
//! syncd exactly once (crashes and outages included); read the same from
//! Redis and from PostgreSQL; kept by restores.

use std::collections::HashMap;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_shared::position::Position;
use taskmaster_tests::{Auth, ChildProcess, TestApp, eventually, shared, spawn_app};

/// A `taskmaster-syncd` process on the app's data and a new database, with
/// `extra` variables; returns once its schema is in place.
async fn syncd(
    app: &TestApp,
    extra: &[(&str, &str)],
) -> (ChildProcess, tokio_postgres::Client, String) {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let (syncd, pg) = syncd_on(app, &url, extra).await;
    (syncd, pg, url)
}

/// A `taskmaster-syncd` process on the database at `url`.
async fn syncd_on(
    app: &TestApp,
    url: &str,
    extra: &[(&str, &str)],
) -> (ChildProcess, tokio_postgres::Client) {
    let mut vars = vec![("SYNC_INTERVAL", "1h")];
    vars.extend_from_slice(extra);
    app.syncd_process(url, &vars).await
}

/// Entries ever appended to the change log (trimmed ones included).
async fn logged(app: &TestApp) -> i64 {
    let mut redis = app.redis().await;
    let info: HashMap<String, redis::Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(app.keys.changes())
        .query_async(&mut redis)
        .await
        .expect("xinfo");
    match info.get("entries-added") {
        Some(redis::Value::Int(n)) => *n,
        other => panic!("entries-added: {other:?}"),
    }
}

/// Entries the audit consumer group has not acknowledged (read straight
/// from Redis: the status record lags by a heartbeat).
async fn unacknowledged(app: &TestApp) -> Option<i64> {
    let mut redis = app.redis().await;
    let groups: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(app.keys.changes())
        .query_async(&mut redis)
        .await
        .ok()?;
    let group = groups
        .iter()
        .find(|g| matches!(g.get("name"), Some(redis::Value::BulkString(n)) if n == b"audit"))?;
    let n = |f: &str| match group.get(f) {
        Some(redis::Value::Int(n)) => *n,
        _ => 0,
    };
    Some(n("lag") + n("pending"))
}

/// Waits until the audit log holds every entry of the change log.
async fn caught_up(app: &TestApp, syncd: &ChildProcess) {
    let done = eventually(Duration::from_secs(30), || async {
        (unacknowledged(app).await == Some(0)).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "the audit log never caught up:\n{}",
        syncd.output()
    );
}

/// Rows in `audit_log`, and how many distinct stream ids they have.
async fn audit_rows(pg: &tokio_postgres::Client) -> (i64, i64) {
    let row = pg
        .query_one(
            "SELECT count(*), count(DISTINCT (stream_ms, stream_seq)) FROM audit_log",
            &[],
        )
        .await
        .expect("count");
    (row.get(0), row.get(1))
}

/// Every record `/admin/audit?{filter}` answers, following the cursor.
async fn all_records(app: &TestApp, filter: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for _ in 0..1000 {
        let path = format!("/admin/audit?limit=200&{filter}{cursor}");
        let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {}", res.text());
        let data = res.json()["data"].clone();
        out.extend(data["records"].as_array().expect("records").iter().cloned());
        match data["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
    panic!("the cursor never ended");
}

/// What one request must have left in the audit log.
struct Expected {
    entity: &'static str,
    action: &'static str,
    id: String,
    /// Fields the record's `changes` must hold with these values.
    changes: Value,
}

fn expect(
    entity: &'static str,
    action: &'static str,
    id: impl ToString,
    changes: Value,
) -> Expected {
    Expected {
        entity,
        action,
        id: id.to_string(),
        changes,
    }
}

/// One request, as the test remembers it.
struct Step {
    what: &'static str,
    request_id: String,
    actor: String,
    auth: &'static str,
    token: Option<String>,
    expected: Vec<Expected>,
}

/// Sends a request that must succeed; its request id.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: &Auth,
    body: Option<Value>,
) -> (String, Value) {
    let res = app.call(method, path, auth, body).await;
    assert!(
        res.status.is_success(),
        "{path}: {} {}",
        res.status,
        res.text()
    );
    let id = res
        .header("x-request-id")
        .expect("every answer has a request id")
        .to_owned();
    let body = if res.body.is_empty() {
        Value::Null
    } else {
        res.json()
    };
    (id, body)
}

/// The session id inside an access token (`tma_{user}.{session}.{secret}`).
fn session_of(auth: &Auth) -> String {
    let Auth::Bearer(token) = auth else {
        panic!("a bearer token")
    };
    token.split('.').nth(1).expect("session id").to_owned()
}

fn check(records: &[Value], steps: &[Step]) {
    for step in steps {
        let mut mine: Vec<&Value> = records
            .iter()
            .filter(|r| r["request_id"] == step.request_id.as_str())
            .collect();
        mine.sort_by_key(|r| {
            (
                r["entity"].to_string(),
                r["entity_id"].to_string(),
                r["action"].to_string(),
            )
        });
        let mut wanted: Vec<&Expected> = step.expected.iter().collect();
        wanted.sort_by_key(|e| {
            (
                format!("\"{}\"", e.entity),
                format!("\"{}\"", e.id),
                format!("\"{}\"", e.action),
            )
        });
        assert_eq!(
            mine.len(),
            wanted.len(),
            "{}: exactly one record per change: {mine:#?}",
            step.what
        );
        for (record, want) in mine.iter().zip(wanted) {
            let what = format!(
                "{} ({} {} {})",
                step.what, want.entity, want.action, want.id
            );
            assert_eq!(record["entity"], want.entity, "{what}: {record}");
            assert_eq!(record["action"], want.action, "{what}: {record}");
            assert_eq!(record["entity_id"], want.id.as_str(), "{what}: {record}");
            assert_eq!(record["actor"], step.actor.as_str(), "{what}: {record}");
            assert_eq!(record["auth"], step.auth, "{what}: {record}");
            assert_eq!(
                record["token_id"].as_str(),
                step.token.as_deref(),
                "{what}: {record}"
            );
            for (field, value) in want.changes.as_object().expect("an object") {
                assert_eq!(
                    &record["changes"][field], value,
                    "{what}: changes.{field} in {record}"
                );
            }
            let text = record.to_string();
            for secret in ["$argon2", "password_hash", "\"pw\"", "secret_hash"] {
                assert!(!text.contains(secret), "{what}: {secret} in {text}");
            }
        }
    }
}

#[tokio::test]
async fn every_write_produces_exactly_one_record_per_change_that_reads_the_same_from_redis_and_postgres()
 {
    let app = spawn_app().await;
    let owner = |what, request_id: String, expected| Step {
        what,
        request_id,
        actor: "owner".into(),
        auth: "owner_header",
        token: None,
        expected,
    };
    let mut steps = Vec::new();

    let (rid, body) = send(&app, Method::POST, "/users", &Auth::Owner, Some(json!({
        "full_name": "Ann Audit", "email": "ann.audit@example.com", "password": "first-secret-1", "role": "user"
    }))).await;
    let u = body["data"]["user"]["id"].as_u64().expect("id");
    steps.push(owner(
        "create a user",
        rid,
        vec![expect(
            "user",
            "created",
            u,
            json!({
                "email": "ann.audit@example.com", "role": "user", "group_ids": [], "active": true
            }),
        )],
    ));
    let admin = app.seed_user("group_admin", &[]).await;

    let (rid, body) = send(
        &app,
        Method::POST,
        "/groups",
        &Auth::Owner,
        Some(json!({
            "name": "Audited", "admin_id": admin.id
        })),
    )
    .await;
    let g = body["data"]["group"]["id"].as_u64().expect("id");
    steps.push(owner(
        "create a group",
        rid,
        vec![
            expect(
                "group",
                "created",
                g,
                json!({"name": "Audited", "admin_id": admin.id}),
            ),
            expect("user", "updated", admin.id, json!({"group_ids": [[], [g]]})),
        ],
    ));

    let (rid, _) = send(
        &app,
        Method::POST,
        &format!("/groups/{g}/users"),
        &Auth::Owner,
        Some(json!({"user_id": u})),
    )
    .await;
    steps.push(owner(
        "add a member",
        rid,
        vec![expect(
            "user",
            "updated",
            u,
            json!({"group_ids": [[], [g]]}),
        )],
    ));

    let ann = taskmaster_tests::Seeded {
        id: u,
        email: "ann.audit@example.com".into(),
        password: "first-secret-1".into(),
    };
    let session = app.bearer(&ann).await;
    let sid = session_of(&session);
    let as_session = |what, request_id: String, expected| Step {
        what,
        request_id,
        actor: u.to_string(),
        auth: "session",
        token: Some(sid.clone()),
        expected,
    };
    let (rid, body) = send(
        &app,
        Method::POST,
        &format!("/users/{u}/tasks"),
        &session,
        Some(json!({
            "title": "first", "group_id": g, "priority": 1
        })),
    )
    .await;
    let t = body["data"]["task"]["id"].as_u64().expect("id");
    steps.push(as_session(
        "create a task",
        rid,
        vec![expect(
            "task",
            "created",
            t,
            json!({
                "title": "first", "priority": 1, "state": "todo", "user_id": u, "group_id": g
            }),
        )],
    ));
    let (rid, _) = send(
        &app,
        Method::PUT,
        &format!("/users/{u}/tasks/{t}"),
        &session,
        Some(json!({
            "title": "second", "priority": 3, "labels": ["x"]
        })),
    )
    .await;
    steps.push(as_session("update a task", rid, vec![expect("task", "updated", t, json!({
        "title": ["first", "second"], "priority": [1, 3], "labels": [[], ["x"]], "state": null
    }))]));

    let (rid, _) = send(
        &app,
        Method::PUT,
        &format!("/users/{u}/tasks/{t}/done"),
        &admin.auth(),
        None,
    )
    .await;
    let done = Step {
        what: "mark a task done",
        request_id: rid,
        actor: admin.id.to_string(),
        auth: "basic",
        token: None,
        expected: vec![expect(
            "task",
            "updated",
            t,
            json!({
                "status": [false, true], "state": ["todo", "done"], "title": null
            }),
        )],
    };
    steps.push(done);

    let (rid, _) = send(
        &app,
        Method::POST,
        &format!("/groups/{g}/labels/rename"),
        &admin.auth(),
        Some(json!({"from": "x", "to": "y"})),
    )
    .await;
    steps.push(Step {
        what: "rename a label",
        request_id: rid,
        actor: admin.id.to_string(),
        auth: "basic",
        token: None,
        expected: vec![expect(
            "task",
            "updated",
            t,
            json!({"labels": [["x"], ["y"]]}),
        )],
    });

    let (rid, _) = send(
        &app,
        Method::POST,
        "/tasks/batch",
        &Auth::Owner,
        Some(json!({
            "task_ids": [t], "action": "update", "updates": {"status": false}
        })),
    )
    .await;
    steps.push(owner(
        "reopen in a batch",
        rid,
        vec![expect(
            "task",
            "updated",
            t,
            json!({
                "status": [true, false], "state": ["done", "todo"]
            }),
        )],
    ));

    let (rid, _) = send(
        &app,
        Method::PUT,
        &format!("/users/{u}"),
        &Auth::Owner,
        Some(json!({
            "full_name": "Ann Audited", "password": "second-secret-2"
        })),
    )
    .await;
    steps.push(owner(
        "rename a user and change its password",
        rid,
        vec![expect(
            "user",
            "updated",
            u,
            json!({
                "full_name": ["Ann Audit", "Ann Audited"], "password": "changed", "email": null
            }),
        )],
    ));
    let ann_auth = Auth::Basic(u.to_string(), "second-secret-2".into());

    let (rid, _) = send(
        &app,
        Method::PUT,
        &format!("/users/{u}/worktimes"),
        &ann_auth,
        Some(json!({
            "work_times": {"Monday": 8}
        })),
    )
    .await;
    let as_basic = |what, request_id: String, expected| Step {
        what,
        request_id,
        actor: u.to_string(),
        auth: "basic",
        token: None,
        expected,
    };
    steps.push(as_basic(
        "set work times",
        rid,
        vec![expect(
            "user",
            "updated",
            u,
            json!({
                "work_times": [{}, {"Monday": 8}]
            }),
        )],
    ));

    let (rid, body) = send(
        &app,
        Method::POST,
        "/auth/tokens",
        &ann_auth,
        Some(json!({"name": "ci"})),
    )
    .await;
    let token_id = body["data"]["api_token"]["id"]
        .as_str()
        .expect("token id")
        .to_owned();
    let token = Auth::Bearer(body["data"]["token"].as_str().expect("token").to_owned());
    steps.push(as_basic(
        "make a personal token",
        rid,
        vec![expect("token", "created", &token_id, json!({"user_id": u}))],
    ));
    let (rid, body) = send(
        &app,
        Method::POST,
        &format!("/users/{u}/tasks"),
        &token,
        Some(json!({
            "title": "by token", "group_id": g
        })),
    )
    .await;
    let t2 = body["data"]["task"]["id"].as_u64().expect("id");
    steps.push(Step {
        what: "create a task with a personal token",
        request_id: rid,
        actor: u.to_string(),
        auth: "token",
        token: Some(token_id.clone()),
        expected: vec![expect("task", "created", t2, json!({"title": "by token"}))],
    });
    let (rid, _) = send(
        &app,
        Method::DELETE,
        &format!("/auth/tokens/{token_id}"),
        &ann_auth,
        None,
    )
    .await;
    steps.push(as_basic(
        "revoke the token",
        rid,
        vec![expect("token", "deleted", &token_id, json!({"user_id": u}))],
    ));

    let (rid, _) = send(
        &app,
        Method::DELETE,
        &format!("/users/{u}/tasks/{t}"),
        &ann_auth,
        None,
    )
    .await;
    steps.push(as_basic(
        "delete a task",
        rid,
        vec![expect(
            "task",
            "deleted",
            t,
            json!({
                "title": "second", "labels": ["y"]
            }),
        )],
    ));

    let (rid, _) = send(
        &app,
        Method::PUT,
        &format!("/groups/{g}"),
        &Auth::Owner,
        Some(json!({"name": "Audited 2"})),
    )
    .await;
    steps.push(owner(
        "rename a group",
        rid,
        vec![expect(
            "group",
            "updated",
            g,
            json!({
                "name": ["Audited", "Audited 2"], "admin_id": null
            }),
        )],
    ));

    // The member's last group: its task there goes with it.
    let (rid, _) = send(
        &app,
        Method::DELETE,
        &format!("/groups/{g}/users/{u}"),
        &Auth::Owner,
        None,
    )
    .await;
    steps.push(owner(
        "remove a member",
        rid,
        vec![
            expect("task", "deleted", t2, json!({"title": "by token"})),
            expect("user", "updated", u, json!({"group_ids": [[g], []]})),
        ],
    ));

    let (rid, _) = send(
        &app,
        Method::DELETE,
        &format!("/groups/{g}"),
        &Auth::Owner,
        None,
    )
    .await;
    steps.push(owner(
        "delete a group",
        rid,
        vec![
            expect("user", "updated", admin.id, json!({"group_ids": [[g], []]})),
            expect("group", "deleted", g, json!({"name": "Audited 2"})),
        ],
    ));

    let other = app.seed_user("user", &[]).await;
    let other_session = app.bearer(&other).await;
    let (rid, _) = send(&app, Method::POST, "/auth/logout", &other_session, None).await;
    steps.push(Step {
        what: "sign out",
        request_id: rid,
        actor: other.id.to_string(),
        auth: "session",
        token: Some(session_of(&other_session)),
        expected: vec![expect("session", "deleted", other.id, json!({}))],
    });

    // Deactivation, then a demotion that hands the groups the admin
    // administered to the owner account.
    let (rid, _) = send(
        &app,
        Method::PUT,
        &format!("/users/{u}"),
        &Auth::Owner,
        Some(json!({"active": false})),
    )
    .await;
    steps.push(owner(
        "deactivate a user",
        rid,
        vec![expect(
            "user",
            "updated",
            u,
            json!({"active": [true, false]}),
        )],
    ));
    let admin2 = app.seed_user("group_admin", &[]).await;
    let g2 = app.seed_group(admin2.id).await;
    let (rid, _) = send(
        &app,
        Method::PUT,
        &format!("/users/{}", admin2.id),
        &Auth::Owner,
        Some(json!({"role": "user"})),
    )
    .await;
    let taker = app
        .call(Method::GET, &format!("/groups/{g2}"), &Auth::Owner, None)
        .await
        .json()["data"]["admin_id"]
        .as_u64()
        .expect("the group's new admin");
    steps.push(owner(
        "demote a group admin",
        rid,
        vec![
            expect(
                "group",
                "updated",
                g2,
                json!({"admin_id": [admin2.id, taker]}),
            ),
            expect("user", "updated", taker, json!({"group_ids": [[], [g2]]})),
            expect(
                "user",
                "updated",
                admin2.id,
                json!({"role": ["group_admin", "user"]}),
            ),
        ],
    ));

    let (rid, _) = send(
        &app,
        Method::DELETE,
        &format!("/users/{u}"),
        &Auth::Owner,
        None,
    )
    .await;
    steps.push(owner(
        "delete a user",
        rid,
        vec![expect(
            "user",
            "deleted",
            u,
            json!({
                "full_name": "Ann Audited", "email": "ann.audit@example.com"
            }),
        )],
    ));

    // No syncd yet: everything comes from the change log in Redis.
    let from_redis = all_records(&app, "").await;
    assert_eq!(
        from_redis.len() as i64,
        logged(&app).await,
        "one record per entry"
    );
    check(&from_redis, &steps);
    let ids: Vec<&str> = from_redis.iter().filter_map(|r| r["id"].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| taskmaster_shared::position::Position::parse(id));
    sorted.reverse();
    assert_eq!(ids, sorted, "newest first");

    // syncd appends them all; then every one comes from PostgreSQL, the same.
    let (mut syncd, pg, _) = syncd(&app, &[]).await;
    caught_up(&app, &syncd).await;
    assert_eq!(
        audit_rows(&pg).await,
        (from_redis.len() as i64, from_redis.len() as i64)
    );
    let from_postgres = all_records(&app, "").await;
    assert_eq!(
        from_postgres, from_redis,
        "the same records from either store"
    );

    // Filters, from PostgreSQL.
    let by_actor = all_records(&app, &format!("actor={u}")).await;
    assert!(
        !by_actor.is_empty()
            && by_actor
                .iter()
                .all(|r| r["actor"] == u.to_string().as_str())
    );
    let of_task = all_records(&app, &format!("entity=task&id={t}")).await;
    let actions: Vec<&str> = of_task
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "deleted", "updated", "updated", "updated", "updated", "created"
        ]
    );
    syncd.signal(libc::SIGTERM);
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test]
async fn a_registration_is_recorded_as_made_by_nobody_signed_in() {
    let app =
        taskmaster_tests::spawn_app_with(shared().await.redis.port, &[("REGISTRATION", "open")])
            .await;
    let res = app
        .call(Method::POST, "/auth/register", &Auth::None, Some(json!({
            "full_name": "New Comer", "email": "new.comer@example.com", "password": "a-long-secret-1"
        })))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let id = res.json()["data"]["user"]["id"].as_u64().expect("id");
    let records = all_records(&app, &format!("entity=user&id={id}")).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0]["actor"].as_str(), records[0]["auth"].as_str()),
        (Some("anonymous"), Some("none"))
    );
    assert_eq!(
        records[0]["request_id"].as_str(),
        res.header("x-request-id")
    );
    assert_eq!(records[0]["changes"]["email"], "new.comer@example.com");
}

#[tokio::test]
async fn a_membership_change_is_recorded_with_the_groups_before_and_after_in_order() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let mut groups = Vec::new();
    for _ in 0..3 {
        groups.push(app.seed_group(admin.id).await);
    }
    let user = app.seed_user("user", &groups).await;
    // Out of the middle one: the group it left is listed in its place,
    // not after the ones it stays in.
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{}/users/{}", groups[1], user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let records = all_records(&app, &format!("entity=user&id={}", user.id)).await;
    let left = records
        .iter()
        .find(|r| r["action"] == "updated" && r["changes"]["group_ids"].is_array())
        .unwrap_or_else(|| panic!("no membership change in {records:#?}"));
    assert_eq!(
        left["changes"]["group_ids"],
        json!([groups.clone(), [groups[0], groups[2]]]),
        "{left}"
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_across_redis_and_postgres_without_a_gap_or_a_repeat() {
    let app = spawn_app().await;
    let (admin, g, user) = app.seed_team().await;
    for i in 0..30 {
        app.seed_task(user.id, g, &format!("early {i}")).await;
    }
    let (mut syncd, _pg, _) = syncd(&app, &[]).await;
    caught_up(&app, &syncd).await;
    // Newer entries stay in Redis only: syncd is paused.
    syncd.signal(libc::SIGSTOP);
    for i in 0..30 {
        app.seed_task(admin.id, g, &format!("late {i}")).await;
    }
    assert!(unacknowledged(&app).await.unwrap_or(0) >= 30);
    syncd.signal(libc::SIGCONT);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let res = app
            .call(
                Method::GET,
                &format!("/admin/audit?entity=task&limit=7{cursor}"),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let data = res.json()["data"].clone();
        let page = data["records"].as_array().expect("records").clone();
        assert!(page.len() <= 7);
        seen.extend(
            page.into_iter()
                .map(|r| r["changes"]["title"].as_str().expect("title").to_owned()),
        );
        match data["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let mut want: Vec<String> = (0..30).rev().map(|i| format!("late {i}")).collect();
    want.extend((0..30).rev().map(|i| format!("early {i}")));
    assert_eq!(seen, want);

    // Time bounds: nothing after a time before the first write.
    let res = app
        .call(
            Method::GET,
            "/admin/audit?until=2000-01-01T00:00:00Z",
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.json()["data"]["records"], json!([]));
    let res = app
        .call(
            Method::GET,
            "/admin/audit?since=2999-01-01T00:00:00Z",
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.json()["data"]["records"], json!([]));
    for (query, field) in [
        ("entity=tasks", "entity"),
        ("since=yesterday", "since"),
        ("cursor=x", "cursor"),
        ("limit=201", "limit"),
        ("actor=%27%3Bdrop", "actor"),
    ] {
        app.call(
            Method::GET,
            &format!("/admin/audit?{query}"),
            &Auth::Owner,
            None,
        )
        .await
        .assert_invalid(field);
    }
    syncd.signal(libc::SIGTERM);
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test]
async fn a_task_history_shows_the_tasks_changes_to_whoever_may_read_it() {
    let app = spawn_app().await;
    let (admin, g, user) = app.seed_team().await;
    let t = app.seed_task(user.id, g, "watched").await;
    let other = app.seed_task(user.id, g, "other").await;
    for p in [1, 3] {
        send(
            &app,
            Method::PUT,
            &format!("/users/{}/tasks/{t}", user.id),
            &user.auth(),
            Some(json!({"priority": p})),
        )
        .await;
    }
    send(
        &app,
        Method::PUT,
        &format!("/users/{}/tasks/{other}", user.id),
        &user.auth(),
        Some(json!({"priority": 3})),
    )
    .await;
    let history = |who: Auth| {
        let app = &app;
        async move {
            app.call(
                Method::GET,
                &format!("/users/{}/tasks/{t}/history", user.id),
                &who,
                None,
            )
            .await
        }
    };
    for who in [user.auth(), admin.auth(), Auth::Owner] {
        let res = history(who).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let records = res.json()["data"]["records"].clone();
        let changes: Vec<Value> = records
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["changes"]["priority"].clone())
            .collect();
        assert_eq!(
            changes,
            [json!([1, 3]), json!([2, 1]), json!(2)],
            "{records}"
        );
        assert!(
            records
                .as_array()
                .expect("records")
                .iter()
                .all(|r| r["entity_id"] == t.to_string().as_str())
        );
    }
    // Its query can name no other row.
    let res = app
        .call(
            Method::GET,
            &format!(
                "/users/{}/tasks/{t}/history?entity=user&id={other}",
                user.id
            ),
            &user.auth(),
            None,
        )
        .await;
    assert!(
        res.json()["data"]["records"]
            .as_array()
            .expect("records")
            .iter()
            .all(|r| r["entity_id"] == t.to_string().as_str())
    );
    // Someone who may not read the task learns nothing of it.
    let stranger = app.seed_user("user", &[]).await;
    let res = history(stranger.auth()).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(!res.text().contains("watched"));
}

#[tokio::test]
async fn a_syncd_killed_between_the_commit_and_the_acknowledgement_writes_nothing_twice() {
    let app = spawn_app().await;
    let (admin, g, user) = app.seed_team().await;
    for i in 0..20 {
        app.seed_task(user.id, g, &format!("before {i}")).await;
    }
    // This syncd aborts (as kill -9 would end it) right after its first
    // commit, before it acknowledges anything.
    let (mut doomed, pg, url) = syncd(&app, &[("SYNCD_FAULT", "audit_after_commit")]).await;
    let died = doomed.wait_for_exit(Duration::from_secs(30)).await;
    assert_ne!(
        died,
        Some(0),
        "it must die by the fault:\n{}",
        doomed.output()
    );
    let (written, _) = audit_rows(&pg).await;
    assert!(written > 0, "the commit went through");
    assert!(
        unacknowledged(&app).await.unwrap_or(0) >= written,
        "nothing was acknowledged"
    );

    for i in 0..5 {
        app.seed_task(admin.id, g, &format!("after {i}")).await;
    }
    let (mut syncd, _pg) = syncd_on(&app, &url, &[]).await;
    caught_up(&app, &syncd).await;
    let entries = logged(&app).await;
    assert_eq!(
        audit_rows(&pg).await,
        (entries, entries),
        "every entry once"
    );
    syncd.signal(libc::SIGTERM);
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test]
async fn kill_9_at_random_moments_under_writes_loses_and_doubles_nothing() {
    let app = spawn_app().await;
    let (_admin, g, user) = app.seed_team().await;
    let (mut syncd, pg, url) = syncd(&app, &[]).await;
    let writer = {
        let app = app.restart_same_prefix().await;
        let auth = user.auth();
        tokio::spawn(async move {
            for i in 0..300 {
                let res = app
                    .call(
                        Method::POST,
                        &format!("/users/{}/tasks", user.id),
                        &auth,
                        Some(json!({"title": format!("t{i}"), "group_id": g})),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
            }
            app
        })
    };
    for round in 0..4u64 {
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        syncd.signal(libc::SIGKILL);
        let _ = syncd.wait_for_exit(Duration::from_secs(10)).await;
        syncd = syncd_on(&app, &url, &[]).await.0;
    }
    let _app = writer.await.expect("writer");
    caught_up(&app, &syncd).await;
    let entries = logged(&app).await;
    assert_eq!(
        audit_rows(&pg).await,
        (entries, entries),
        "every entry once:\n{}",
        syncd.output()
    );
    syncd.signal(libc::SIGTERM);
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test]
async fn while_postgres_refuses_the_backlog_grows_is_shown_and_then_drains_exactly_once() {
    let app = spawn_app().await;
    let (_admin, g, user) = app.seed_team().await;
    // A log that keeps 3 entries: its trim must still keep every entry the
    // audit log has not taken.
    let (mut syncd, pg, _) = syncd(&app, &[("CHANGES_RETAIN_ENTRIES", "3")]).await;
    caught_up(&app, &syncd).await;
    pg.batch_execute("ALTER TABLE audit_log RENAME TO audit_log_away")
        .await
        .expect("rename");
    let mut titles = Vec::new();
    for i in 0..10 {
        titles.push(app.seed_task(user.id, g, &format!("during {i}")).await);
    }
    let shown = eventually(Duration::from_secs(20), || async {
        let res = app
            .call(Method::GET, "/admin/status", &Auth::Owner, None)
            .await;
        let backlog = res.json()["data"]["syncd"]["audit"]["backlog"]
            .as_u64()
            .unwrap_or(0);
        (backlog >= 10).then_some(backlog)
    })
    .await;
    assert!(shown.is_some(), "no backlog shown:\n{}", syncd.output());
    // The newest records are still served, from Redis.
    let res = app
        .call(
            Method::GET,
            "/admin/audit?entity=task&limit=10",
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let ids: Vec<String> = res.json()["data"]["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["entity_id"].as_str().expect("id").to_owned())
        .collect();
    let mut want: Vec<String> = titles.iter().rev().map(u64::to_string).collect();
    want.truncate(10);
    assert_eq!(ids, want);

    pg.batch_execute("ALTER TABLE audit_log_away RENAME TO audit_log")
        .await
        .expect("rename back");
    caught_up(&app, &syncd).await;
    let entries = logged(&app).await;
    assert_eq!(audit_rows(&pg).await, (entries, entries));
    for t in &titles {
        let n: i64 = pg
            .query_one(
                "SELECT count(*) FROM audit_log WHERE entity = 'task' AND entity_id = $1",
                &[&t.to_string()],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(n, 1, "task {t}");
    }
    // Now that the audit log has them, the trim takes the log down.
    let trimmed = eventually(Duration::from_secs(10), || async {
        let mut redis = app.redis().await;
        let len: i64 = redis::cmd("XLEN")
            .arg(app.keys.changes())
            .query_async(&mut redis)
            .await
            .ok()?;
        (len <= 3).then_some(())
    })
    .await;
    assert!(trimmed.is_some(), "never trimmed:\n{}", syncd.output());
    syncd.signal(libc::SIGTERM);
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test]
async fn the_audit_table_refuses_updates_deletes_and_truncation() {
    let app = spawn_app().await;
    app.seed_team().await;
    let (mut syncd, pg, _) = syncd(&app, &[]).await;
    caught_up(&app, &syncd).await;
    for statement in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = pg.batch_execute(statement).await.expect_err(statement);
        assert!(
            e.to_string().contains("append-only") || format!("{e:?}").contains("append-only"),
            "{statement}: {e:?}"
        );
    }
    assert!(audit_rows(&pg).await.0 > 0);
    syncd.signal(libc::SIGTERM);
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test]
async fn restores_keep_the_audit_log_and_a_restore_into_an_empty_database_brings_it_back() {
    use crate::restore::{
        admin_sync, backup_dir, backup_now, backup_text, syncd_for, write_older_backup,
    };
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, pg) = syncd_for(&app, &dir).await;
    let (_admin, g, user) = app.seed_team().await;
    app.seed_task(user.id, g, "in the backup").await;
    let file = backup_now(&app).await;
    assert!(backup_text(&dir, &file).contains("table audit_log "));
    // Written after the backup: the restore takes the rows back to the
    // backup, but not their history.
    let late = app.seed_task(user.id, g, "after the backup").await;
    let res = admin_sync(&app, &format!("action=restore&from={file}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(
            Method::GET,
            &format!("/admin/audit?entity=task&id={late}"),
            &Auth::Owner,
            None,
        )
        .await;
    let records = res.json()["data"]["records"].clone();
    assert_eq!(records.as_array().map(Vec::len), Some(1), "{records}");
    assert_eq!(records[0]["changes"]["title"], "after the backup");
    // The restore itself is on record.
    let resets = all_records(&app, "entity=reset").await;
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0]["action"], "restored");
    let before = eventually(Duration::from_secs(20), || async {
        (unacknowledged(&app).await == Some(0)).then_some(())
    })
    .await;
    assert!(before.is_some());
    let (kept, _) = audit_rows(&pg).await;

    // A new system on an empty database gets the history back from the
    // file; a file from before the audit log (format 3) restores too.
    let fresh = spawn_app().await;
    let (_fresh_syncd, fresh_pg) = syncd_for(&fresh, &dir).await;
    let res = admin_sync(&fresh, &format!("action=restore&from={file}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let in_file = res.json()["data"]["file_rows"]["audit_log"]
        .as_i64()
        .expect("loaded audit rows");
    assert!(in_file > 0 && in_file < kept, "{in_file} of {kept}");
    let (restored, _) = audit_rows(&fresh_pg).await;
    assert!(restored >= in_file);
    let old = write_older_backup(&dir, &backup_text(&dir, &file), 3);
    let res = admin_sync(&fresh, &format!("action=restore&from={old}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(audit_rows(&fresh_pg).await.0 >= restored, "nothing removed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_cursor_at_the_logs_origin_is_an_empty_page_not_an_error() {
    let app = spawn_app().await;
    let (_syncd, _pg, _url) = syncd(&app, &[]).await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[group]).await;
    let t = app.seed_task(user.id, group, "x").await;
    for (path, auth) in [
        (
            format!("/users/{}/tasks/{t}/history?cursor=0&limit=1", user.id),
            admin.auth(),
        ),
        (
            format!("/users/{}/tasks/{t}/history?cursor=0-0", user.id),
            user.auth(),
        ),
        ("/admin/audit?cursor=0".to_owned(), Auth::Owner),
    ] {
        let res = app.call(Method::GET, &path, &auth, None).await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {}", res.text());
        assert_eq!(
            res.json()["data"],
            json!({"records": [], "next_cursor": null}),
            "{path}"
        );
    }
}

/// Seed 21598 of the fault run (`everysec`): the standby syncd read an
/// entry ahead and was paused (SIGSTOP) past its read's timeout; Redis had
/// delivered the entry, so it was pending under the consumer's name, but
/// the consumer went on reading new entries only, and the entry's record
/// never reached the audit log (the backlog stayed at 1 for good). Here
/// the entry is delivered by hand under the consumer's name while syncd is
/// stopped, as the lost read left it.
#[tokio::test]
async fn an_entry_delivered_to_the_consumer_whose_answer_was_lost_still_reaches_the_audit_log() {
    let app = spawn_app().await;
    let (_admin, g, user) = app.seed_team().await;
    let (syncd, pg, _url) = syncd(&app, &[]).await;
    caught_up(&app, &syncd).await;
    // Stopped while its read blocks; the block ends in Redis meanwhile
    // (after 1 s), so the next entry goes to no reader.
    syncd.signal(libc::SIGSTOP);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let task = app.seed_task(user.id, g, "delivered, never seen").await;
    let mut redis = app.redis().await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("audit")
        .arg(taskmaster_shared::keys::Keys::AUDIT_CONSUMER)
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(app.keys.changes())
        .arg(">")
        .query_async(&mut redis)
        .await
        .expect("xreadgroup");
    syncd.signal(libc::SIGCONT);
    caught_up(&app, &syncd).await;
    let n: i64 = pg
        .query_one(
            "SELECT count(*) FROM audit_log WHERE entity = 'task' AND entity_id = $1",
            &[&task.to_string()],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 1, "{}", syncd.output());
}

/// A `since` in the millisecond of the newest entry PostgreSQL holds: the
/// audit consumer's boundary is in that millisecond too (the position
/// after its last acknowledged entry), so the read from Redis must start at
/// the boundary, not at the millisecond's first position, or the records
/// PostgreSQL holds are answered twice, once from each.
#[tokio::test]
async fn a_since_in_the_millisecond_of_the_last_acknowledged_entry_answers_each_record_once() {
    let app = spawn_app().await;
    let (_admin, g, user) = app.seed_team().await;
    for i in 0..5 {
        app.seed_task(user.id, g, &format!("t{i}")).await;
    }
    let (syncd, _pg, _) = syncd(&app, &[]).await;
    caught_up(&app, &syncd).await;
    // The whole log, newest first (a few entries): the page must be every
    // entry in the newest one's millisecond.
    let mut redis = app.redis().await;
    let log: Vec<(String, Vec<String>)> = redis::cmd("XREVRANGE")
        .arg(app.keys.changes())
        .arg("+")
        .arg("-")
        .query_async(&mut redis)
        .await
        .expect("xrevrange");
    let ms = |id: &str| Position::parse(id).expect("a stream id").ms;
    let newest = ms(&log[0].0);
    let want: Vec<String> = log
        .into_iter()
        .map(|(id, _)| id)
        .take_while(|id| ms(id) == newest)
        .collect();
    let since = taskmaster_shared::time::rfc3339(
        chrono::DateTime::from_timestamp_millis(newest as i64).expect("a time"),
    );
    let got: Vec<String> = all_records(&app, &format!("since={since}"))
        .await
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(got, want, "since={since}");
}
