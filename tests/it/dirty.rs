//! Every write marks each changed row dirty (deletes included) and
//! appends it to the change log, in the same atomic step.

use std::collections::BTreeSet;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_shared::keys::RowType;
use taskmaster_tests::{Auth, TestApp, spawn_app};

pub(crate) async fn dirty(app: &TestApp, t: RowType) -> BTreeSet<u64> {
    let mut redis = app.redis().await;
    redis::cmd("SMEMBERS")
        .arg(app.keys.dirty(t))
        .query_async(&mut redis)
        .await
        .expect("smembers")
}

/// Forgets every dirty mark, and when the oldest waiting change was made.
async fn clear_dirty(app: &TestApp) {
    let mut redis = app.redis().await;
    for t in RowType::ALL {
        let _: () = redis::cmd("DEL")
            .arg(app.keys.dirty(t))
            .query_async(&mut redis)
            .await
            .expect("del");
    }
    let _: () = redis::cmd("DEL")
        .arg(app.keys.dirty_since())
        .query_async(&mut redis)
        .await
        .expect("del");
}

/// When the oldest change waiting for syncd was made: the lag's start.
async fn dirty_since(app: &TestApp) -> Option<String> {
    let mut redis = app.redis().await;
    redis::cmd("GET")
        .arg(app.keys.dirty_since())
        .query_async(&mut redis)
        .await
        .expect("get")
}

/// A change log entry: its id and fields.
type Entry = (String, Vec<(String, String)>);
/// One stream's entries in an `XREAD` reply.
type Streamed = (String, Vec<Entry>);

/// Follows the change log from its current end; returns a receiver of
/// `{"type","id","op"}` for every row entry (task, user, group) appended
/// after the call.
pub(crate) async fn events(app: &TestApp) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let client = redis::Client::open(app.redis_url.as_str()).expect("client");
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connection");
    let stream = app.keys.changes();
    let newest: Vec<Entry> = redis::cmd("XREVRANGE")
        .arg(&stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await
        .expect("xrevrange");
    let mut last = newest
        .first()
        .map_or_else(|| "0-0".to_owned(), |(id, _)| id.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let read: redis::RedisResult<Option<Vec<Streamed>>> = redis::cmd("XREAD")
                .arg("BLOCK")
                .arg(1000)
                .arg("STREAMS")
                .arg(&stream)
                .arg(&last)
                .query_async(&mut conn)
                .await;
            let Ok(read) = read else { break };
            for (_, entries) in read.unwrap_or_default() {
                for (id, fields) in entries {
                    last = id;
                    let get = |name: &str| {
                        fields
                            .iter()
                            .find(|(f, _)| f == name)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let t = get("type");
                    if !matches!(t.as_str(), "task" | "user" | "group") {
                        continue;
                    }
                    let id: Value = get("id").parse::<u64>().map_or(Value::Null, Value::from);
                    if tx
                        .send(json!({"type": t, "id": id, "op": get("op")}))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    rx
}

pub(crate) async fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        out.push(v);
    }
    out
}

#[tokio::test]
async fn every_write_marks_its_rows_dirty_and_logs_them() {
    let app = spawn_app().await;
    let (admin, g, u) = app.seed_team().await;
    clear_dirty(&app).await;
    let mut rx = events(&app).await;

    // Create a task: the task only.
    let tid = app.seed_task(u.id, g, "t").await;
    assert_eq!(dirty(&app, RowType::Task).await, BTreeSet::from([tid]));
    assert!(dirty(&app, RowType::User).await.is_empty());
    assert_eq!(
        drain(&mut rx).await,
        vec![json!({"type": "task", "id": tid, "op": "created"})]
    );

    // Update a user: the user only.
    clear_dirty(&app).await;
    app.call(
        Method::PUT,
        &format!("/users/{}", u.id),
        &Auth::Owner,
        Some(json!({"full_name": "New"})),
    )
    .await;
    assert_eq!(dirty(&app, RowType::User).await, BTreeSet::from([u.id]));
    assert!(dirty(&app, RowType::Task).await.is_empty());
    assert_eq!(
        drain(&mut rx).await,
        vec![json!({"type": "user", "id": u.id, "op": "updated"})]
    );
    // The lag starts with it (what syncd's lag and the status read), not
    // only with a task's create.
    assert!(dirty_since(&app).await.is_some(), "a user's update");

    // Delete the group: the group (delete), its members (upsert), its task (delete).
    clear_dirty(&app).await;
    let res = app
        .call(Method::DELETE, &format!("/groups/{g}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(dirty(&app, RowType::Group).await, BTreeSet::from([g]));
    assert_eq!(
        dirty(&app, RowType::User).await,
        BTreeSet::from([admin.id, u.id])
    );
    assert_eq!(dirty(&app, RowType::Task).await, BTreeSet::from([tid]));
    let mut got = drain(&mut rx).await;
    got.sort_by_key(|v| v.to_string());
    let mut want = vec![
        json!({"type": "group", "id": g, "op": "deleted"}),
        json!({"type": "user", "id": admin.id, "op": "updated"}),
        json!({"type": "user", "id": u.id, "op": "updated"}),
        json!({"type": "task", "id": tid, "op": "deleted"}),
    ];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(got, want);

    // Delete the user: a delete.
    clear_dirty(&app).await;
    app.call(
        Method::DELETE,
        &format!("/users/{}", u.id),
        &Auth::Owner,
        None,
    )
    .await;
    assert_eq!(dirty(&app, RowType::User).await, BTreeSet::from([u.id]));
    assert_eq!(
        drain(&mut rx).await,
        vec![json!({"type": "user", "id": u.id, "op": "deleted"})]
    );
}

#[tokio::test]
async fn a_refused_write_changes_nothing_and_marks_nothing() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    clear_dirty(&app).await;
    let mut rx = events(&app).await;
    let res = app
        .call(
            Method::POST,
            "/users",
            &Auth::Owner,
            Some(json!({"full_name": "x", "email": u.email, "password": "secret1"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", u.id),
            &Auth::Owner,
            Some(json!({"title": "t", "group_id": 12345})),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    for t in RowType::ALL {
        assert!(
            dirty(&app, t).await.is_empty(),
            "{} marked dirty by a refused write",
            t.plural()
        );
    }
    assert!(drain(&mut rx).await.is_empty());
    assert_eq!(dirty_since(&app).await, None);
}

#[tokio::test]
async fn membership_changes_mark_the_user_row_dirty() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[]).await;
    clear_dirty(&app).await;
    app.seed_member(g, u.id).await;
    assert_eq!(dirty(&app, RowType::User).await, BTreeSet::from([u.id]));
    assert!(dirty(&app, RowType::Group).await.is_empty());

    // A new admin joins the group: both the group and the admin's row.
    let admin2 = app.seed_user("group_admin", &[]).await;
    clear_dirty(&app).await;
    app.call(
        Method::PUT,
        &format!("/groups/{g}"),
        &Auth::Owner,
        Some(json!({"admin_id": admin2.id})),
    )
    .await;
    assert_eq!(dirty(&app, RowType::Group).await, BTreeSet::from([g]));
    assert_eq!(
        dirty(&app, RowType::User).await,
        BTreeSet::from([admin2.id])
    );
}

#[tokio::test]
async fn each_remaining_write_endpoint_marks_exactly_the_rows_it_changed() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(admin.id).await;
    let g2 = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[g1, g2]).await;
    let t1 = app.seed_task(u.id, g1, "one").await;
    let t2 = app.seed_task(u.id, g2, "two").await;

    // The rows marked dirty since the last look; the change log must have
    // logged exactly those rows meanwhile.
    let mut log = events(&app).await;
    async fn after(
        app: &TestApp,
        log: &mut tokio::sync::mpsc::UnboundedReceiver<Value>,
    ) -> [BTreeSet<u64>; 3] {
        let marked = [
            dirty(app, RowType::User).await,
            dirty(app, RowType::Group).await,
            dirty(app, RowType::Task).await,
        ];
        let logged = drain(log).await;
        let of = |t: &str| {
            logged
                .iter()
                .filter(|e| e["type"] == t)
                .filter_map(|e| e["id"].as_u64())
                .collect::<BTreeSet<u64>>()
        };
        assert_eq!(
            [of("user"), of("group"), of("task")],
            marked,
            "the change log names exactly the rows marked dirty: {logged:?}"
        );
        marked
    }
    let none = BTreeSet::new;
    let set = |ids: &[u64]| ids.iter().copied().collect::<BTreeSet<u64>>();

    // POST /users: the new user.
    clear_dirty(&app).await;
    let v = app.seed_user("user", &[]).await;
    assert_eq!(after(&app, &mut log).await, [set(&[v.id]), none(), none()]);
    // POST /groups: the group and its admin (who becomes a member).
    clear_dirty(&app).await;
    let g3 = app.seed_group(admin.id).await;
    assert_eq!(
        after(&app, &mut log).await,
        [set(&[admin.id]), set(&[g3]), none()]
    );
    // PUT /groups/{id} rename: the group only.
    clear_dirty(&app).await;
    app.call(
        Method::PUT,
        &format!("/groups/{g3}"),
        &Auth::Owner,
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(after(&app, &mut log).await, [none(), set(&[g3]), none()]);
    // PUT /users/{id}/worktimes: the user only.
    clear_dirty(&app).await;
    app.call(
        Method::PUT,
        &format!("/users/{}/worktimes", u.id),
        &u.auth(),
        Some(json!({"work_times": {"Monday": 1}})),
    )
    .await;
    assert_eq!(after(&app, &mut log).await, [set(&[u.id]), none(), none()]);
    // PUT task, done, batch: the tasks only.
    clear_dirty(&app).await;
    app.call(
        Method::PUT,
        &format!("/users/{}/tasks/{t1}", u.id),
        &u.auth(),
        Some(json!({"title": "x"})),
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/users/{}/tasks/{t2}/done", u.id),
        &u.auth(),
        None,
    )
    .await;
    assert_eq!(
        after(&app, &mut log).await,
        [none(), none(), set(&[t1, t2])]
    );
    clear_dirty(&app).await;
    app.call(
        Method::POST,
        "/tasks/batch",
        &u.auth(),
        Some(json!({"task_ids": [t1, t2], "updates": {"priority": 3}})),
    )
    .await;
    assert_eq!(
        after(&app, &mut log).await,
        [none(), none(), set(&[t1, t2])]
    );
    // DELETE /groups/{g2}/users/{u}: the user, and the task that moved.
    clear_dirty(&app).await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g2}/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        after(&app, &mut log).await,
        [set(&[u.id]), none(), set(&[t2])]
    );
    // PUT /users/{id} with new memberships (owner): the user, moved tasks.
    clear_dirty(&app).await;
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"group_ids": [g3]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        after(&app, &mut log).await,
        [set(&[u.id]), none(), set(&[t1, t2])]
    );
    let moved = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{t1}", u.id),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    assert_eq!(
        moved["data"]["group_id"], g3,
        "tasks follow the user into its remaining group"
    );
    // Batch delete and single delete: the tasks, as deletes.
    clear_dirty(&app).await;
    let mut rx = events(&app).await;
    app.call(
        Method::POST,
        "/tasks/batch",
        &Auth::Owner,
        Some(json!({"task_ids": [t1], "action": "delete"})),
    )
    .await;
    app.call(
        Method::DELETE,
        &format!("/users/{}/tasks/{t2}", u.id),
        &Auth::Owner,
        None,
    )
    .await;
    assert_eq!(
        after(&app, &mut log).await,
        [none(), none(), set(&[t1, t2])]
    );
    assert_eq!(
        drain(&mut rx).await,
        vec![
            json!({"type": "task", "id": t1, "op": "deleted"}),
            json!({"type": "task", "id": t2, "op": "deleted"})
        ]
    );
}
