//! A task's workflow state, its creator and its completion time, beside the
//! reference's fields: every write path moves the state the same way, the
//! reference's `status` follows it, and a reference client sees nothing
//! it did not know but extra fields at the end.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp, spawn_app};

use crate::answers::{Ordered, ordered};

/// The reference's ten fields in their order, then ours.
const FIELDS: [&str; 14] = [
    "id",
    "title",
    "status",
    "priority",
    "deadline",
    "information",
    "user_id",
    "group_id",
    "created_at",
    "updated_at",
    "state",
    "created_by",
    "labels",
    "completed_at",
];

/// The member names of every task object in an answer, in the order the
/// bytes hold them (the answer must hold at least one).
fn key_order(raw: &str) -> Vec<String> {
    fn walk(v: &Ordered, out: &mut Vec<Vec<String>>) {
        match v {
            Ordered::Object(members) => {
                let names: Vec<String> = members.iter().map(|(k, _)| k.clone()).collect();
                if names.first().map(String::as_str) == Some("id")
                    && names.iter().any(|n| n == "title")
                {
                    out.push(names);
                }
                for (_, m) in members {
                    walk(m, out);
                }
            }
            Ordered::List(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&ordered(raw.as_bytes()), &mut found);
    assert!(!found.is_empty(), "no task in {raw}");
    let first = found[0].clone();
    assert!(found.iter().all(|f| *f == first), "{found:?}");
    first
}

async fn create(app: &TestApp, auth: &Auth, user: u64, body: Value) -> Value {
    let res = app
        .call(
            Method::POST,
            &format!("/users/{user}/tasks"),
            auth,
            Some(body),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert_eq!(key_order(&res.text()), FIELDS, "{}", res.text());
    res.json()["data"]["task"].clone()
}

#[tokio::test]
async fn the_reference_fields_come_first_unchanged_and_the_new_ones_follow_in_every_answer() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    // A reference client's create: no new field sent.
    let task = create(
        &app,
        &u.auth(),
        u.id,
        json!({"title": "ref", "group_id": group, "priority": 1, "deadline": "2030-01-02"}),
    )
    .await;
    assert_eq!(task["status"], false);
    assert_eq!(task["state"], "todo");
    assert_eq!(task["created_by"], u.id);
    assert_eq!(task["labels"], json!([]));
    assert_eq!(task["completed_at"], Value::Null);
    let tid = task["id"].as_u64().expect("id");
    let path = format!("/users/{}/tasks/{tid}", u.id);

    // Every answer that carries the task: one, the list (cached and not),
    // the group's, filter, search, batch, done, update, delete.
    let answers = [
        (Method::GET, path.clone(), None, u.auth()),
        (
            Method::GET,
            format!("/users/{}/tasks", u.id),
            None,
            u.auth(),
        ),
        (
            Method::GET,
            format!("/users/{}/tasks", u.id),
            None,
            admin.auth(),
        ),
        (
            Method::GET,
            format!("/groups/{group}/tasks"),
            None,
            admin.auth(),
        ),
        (Method::GET, "/tasks/filter".into(), None, u.auth()),
        (
            Method::GET,
            "/tasks/search?q=ref".into(),
            None,
            admin.auth(),
        ),
        (
            Method::POST,
            "/tasks/batch".into(),
            Some(json!({"task_ids": [tid], "updates": {"priority": 2}})),
            u.auth(),
        ),
        (Method::PUT, format!("{path}/done"), None, u.auth()),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"title": "ref 2"})),
            u.auth(),
        ),
    ];
    for (method, p, body, auth) in answers {
        let res = app.call(method.clone(), &p, &auth, body).await;
        assert_eq!(res.status, StatusCode::OK, "{method} {p}: {}", res.text());
        assert_eq!(
            key_order(&res.text()),
            FIELDS,
            "{method} {p}: {}",
            res.text()
        );
    }
    // `PUT …/done` stays as it was: done, and `status` says so.
    let got = app.task(u.id, tid, &u.auth()).await;
    assert_eq!(got["status"], true);
    assert_eq!(got["state"], "done");
    assert!(got["completed_at"].is_string(), "{got}");

    // A client that sends back whole what it read (the round trip), with
    // the read-only fields changed, changes nothing it may not.
    let mut sent = got.clone();
    sent["title"] = json!("round trip");
    sent["created_by"] = json!(admin.id);
    sent["completed_at"] = json!("2000-01-01T00:00:00Z");
    sent["created_at"] = json!("2000-01-01T00:00:00Z");
    sent["id"] = json!(tid + 1000);
    let res = app.call(Method::PUT, &path, &u.auth(), Some(sent)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let after = res.json()["data"]["task"].clone();
    assert_eq!(after["title"], "round trip");
    for same in [
        "id",
        "created_by",
        "completed_at",
        "created_at",
        "state",
        "status",
    ] {
        assert_eq!(after[same], got[same], "{same}");
    }
    let res = app.call(Method::DELETE, &path, &u.auth(), None).await;
    assert_eq!(key_order(&res.text()), FIELDS, "{}", res.text());
}

#[tokio::test]
async fn created_by_names_the_creating_account_and_no_one_can_write_it() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let owner = crate::groups::owner_id(&app).await;
    let cases = [
        (u.auth(), u.id),
        (admin.auth(), admin.id),
        (app.bearer(&u).await, u.id),
        (app.api_token(&admin, false).await.0, admin.id),
        (Auth::Owner, owner),
    ];
    for (auth, creator) in cases {
        // Sent on a create, it is ignored as every unknown field is.
        let task = create(
            &app,
            &auth,
            u.id,
            json!({"title": "who", "group_id": group, "created_by": 1}),
        )
        .await;
        assert_eq!(task["created_by"], creator, "{task}");
        // The assignee is the path's user.
        assert_eq!(task["user_id"], u.id);
        let tid = task["id"].as_u64().expect("id");
        for body in [
            json!({"created_by": 999}),
            json!({"task_ids": [tid], "updates": {"created_by": 999}}),
        ] {
            let (method, path) = if body.get("task_ids").is_some() {
                (Method::POST, "/tasks/batch".to_owned())
            } else {
                (Method::PUT, format!("/users/{}/tasks/{tid}", u.id))
            };
            let res = app.call(method, &path, &Auth::Owner, Some(body)).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        }
        let t = app.task(u.id, tid, &Auth::Owner).await;
        assert_eq!(t["created_by"], creator);
    }
}

/// One step of the state table: the task's state before, what is sent,
/// and the state after.
struct Step {
    from: &'static str,
    send: Value,
    to: &'static str,
}

fn step(from: &'static str, send: Value, to: &'static str) -> Step {
    Step { from, send, to }
}

#[tokio::test]
async fn the_state_moves_the_same_through_every_write_path_and_status_follows_it() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let steps = [
        step("todo", json!({"state": "in_progress"}), "in_progress"),
        step("in_progress", json!({"state": "done"}), "done"),
        step("done", json!({"state": "todo"}), "todo"),
        step("todo", json!({"status": true}), "done"),
        step("in_progress", json!({"status": true}), "done"),
        step("done", json!({"status": false}), "todo"),
        // `status: false` leaves a task that is not done where it is.
        step("in_progress", json!({"status": false}), "in_progress"),
        step("todo", json!({"status": false}), "todo"),
        // Both sent and agreeing.
        step("todo", json!({"state": "done", "status": true}), "done"),
        step(
            "done",
            json!({"state": "in_progress", "status": false}),
            "in_progress",
        ),
        // Both sent and disagreeing: the one that changes the task wins.
        step(
            "in_progress",
            json!({"state": "in_progress", "status": true}),
            "done",
        ),
        step("done", json!({"state": "done", "status": false}), "todo"),
        step("todo", json!({"state": "done", "status": false}), "done"),
        step("done", json!({"state": "todo", "status": true}), "todo"),
        // Both would change it: `state` wins.
        step(
            "todo",
            json!({"state": "in_progress", "status": true}),
            "in_progress",
        ),
        // "" is "not set", like the reference's zero values.
        step("in_progress", json!({"state": ""}), "in_progress"),
        step(
            "in_progress",
            json!({"title": "only the title"}),
            "in_progress",
        ),
    ];
    for (i, s) in steps.iter().enumerate() {
        for path in ["single", "batch"] {
            let task = create(
                &app,
                &u.auth(),
                u.id,
                json!({"title": format!("step {i}"), "group_id": group, "state": s.from}),
            )
            .await;
            assert_eq!(task["state"], s.from);
            let done_before = task["completed_at"].clone();
            assert_eq!(done_before.is_string(), s.from == "done", "{task}");
            let tid = task["id"].as_u64().expect("id");
            let after = if path == "single" {
                let res = app
                    .call(
                        Method::PUT,
                        &format!("/users/{}/tasks/{tid}", u.id),
                        &u.auth(),
                        Some(s.send.clone()),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text());
                res.json()["data"]["task"].clone()
            } else {
                let res = app
                    .call(
                        Method::POST,
                        "/tasks/batch",
                        &u.auth(),
                        Some(json!({"task_ids": [tid], "action": "update", "updates": s.send})),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text());
                res.json()["data"]["updated_tasks"][0].clone()
            };
            let what = format!("{path}: {} + {} -> {}", s.from, s.send, s.to);
            assert_eq!(after["state"], s.to, "{what}: {after}");
            assert_eq!(after["status"], s.to == "done", "{what}");
            // Set on entering done, kept while done, cleared on leaving.
            match (s.from == "done", s.to == "done") {
                (false, true) => assert!(after["completed_at"].is_string(), "{what}"),
                (true, true) => assert_eq!(after["completed_at"], done_before, "{what}"),
                (_, false) => assert_eq!(after["completed_at"], Value::Null, "{what}"),
            }
        }
    }

    // `PUT …/done` and a batch's mark_done move any state to done; on a
    // done task they keep its completion time.
    let mut done_at = Value::Null;
    for (i, from) in ["todo", "in_progress", "done"].into_iter().enumerate() {
        let task = create(
            &app,
            &u.auth(),
            u.id,
            json!({"title": "d", "group_id": group, "state": from}),
        )
        .await;
        let tid = task["id"].as_u64().expect("id");
        let res = if i % 2 == 0 {
            app.call(
                Method::PUT,
                &format!("/users/{}/tasks/{tid}/done", u.id),
                &u.auth(),
                None,
            )
            .await
            .json()["data"]["task"]
                .clone()
        } else {
            app.call(
                Method::POST,
                "/tasks/batch",
                &u.auth(),
                Some(json!({"task_ids": [tid], "action": "mark_done"})),
            )
            .await
            .json()["data"]["updated_tasks"][0]
                .clone()
        };
        assert_eq!(res["state"], "done", "{res}");
        assert_eq!(res["status"], true);
        if from == "done" {
            assert_eq!(res["completed_at"], task["completed_at"]);
        }
        done_at = res["completed_at"].clone();
    }
    assert!(done_at.is_string());

    // A bad state is 422 naming the field, and changes nothing.
    let task = create(
        &app,
        &u.auth(),
        u.id,
        json!({"title": "x", "group_id": group}),
    )
    .await;
    let tid = task["id"].as_u64().expect("id");
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/users/{}/tasks/{tid}", u.id),
            json!({"state": "finished", "title": "changed"}),
        ),
        (
            Method::POST,
            "/tasks/batch".to_owned(),
            json!({"task_ids": [tid], "updates": {"state": "Done", "title": "changed"}}),
        ),
        (
            Method::POST,
            format!("/users/{}/tasks", u.id),
            json!({"title": "y", "group_id": group, "state": "in progress"}),
        ),
    ] {
        let res = app.call(method, &path, &u.auth(), Some(body)).await;
        res.assert_invalid("state");
    }
    // A state of the wrong JSON type is malformed: 400.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{tid}", u.id),
            &u.auth(),
            Some(json!({"state": 2})),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    let t = app.task(u.id, tid, &u.auth()).await;
    assert_eq!(t["title"], "x");
    assert_eq!(t["state"], "todo");
}

#[tokio::test]
async fn statistics_count_tasks_by_state_and_overdue_beside_the_reference_counts() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let past = "2001-01-01";
    let future = "2999-01-01";
    for (state, deadline) in [
        ("todo", past),
        ("todo", future),
        ("in_progress", past),
        ("done", past),
        ("done", ""),
    ] {
        create(
            &app,
            &u.auth(),
            u.id,
            json!({"title": "s", "group_id": group, "state": state, "deadline": deadline}),
        )
        .await;
    }
    let expected_states = json!({"todo": 2, "in_progress": 1, "done": 2});
    for (path, auth) in [
        ("/tasks/stats".to_owned(), u.auth()),
        ("/tasks/stats".to_owned(), admin.auth()),
        (format!("/groups/{group}/stats"), u.auth()),
        (format!("/groups/{group}/stats"), admin.auth()),
    ] {
        let res = app.call(Method::GET, &path, &auth, None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let data = &res.json()["data"];
        assert_eq!(data["state_counts"], expected_states, "{path}: {data}");
        // Past its day and not done: the todo and the in-progress one.
        assert_eq!(data["overdue_tasks"], 2, "{path}: {data}");
        // The reference's counts are unchanged.
        assert_eq!(data["total_tasks"], 5);
        assert_eq!(data["completed_tasks"], 2);
        assert_eq!(data["pending_tasks"], 3);
        assert_eq!(data["completion_rate"], 40.0);
    }
    // The owner sees these among everyone's.
    let res = app
        .call(Method::GET, "/tasks/stats", &Auth::Owner, None)
        .await;
    let data = &res.json()["data"];
    assert!(
        data["state_counts"]["done"].as_u64().expect("done") >= 2,
        "{data}"
    );
}
