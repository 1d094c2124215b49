//! Every input rule: 400 for malformed JSON or wrong types, 422 for
//! well-formed but invalid values, with a message naming the field; and a
//! refused request changes nothing.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, spawn_app};

#[tokio::test]
async fn every_validation_rule_answers_the_right_status_and_names_the_field() {
    let app = spawn_app().await;
    let (admin, g, u) = app.seed_team().await;
    let t = app.seed_task(u.id, g, "t").await;
    let tasks = format!("/users/{}/tasks", u.id);
    let task = format!("{tasks}/{t}");
    let user = format!("/users/{}", u.id);
    let user_body = |extra: Value| {
        let mut b = json!({"full_name": "V", "email": format!("v{}@example.com", taskmaster_tests::unique()), "password": "secret1"});
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    let rows: Vec<(Method, String, Value, u16, &str)> = vec![
        // Only an object is a request body (serde would fill a struct's
        // fields from an array by position): 400, naming no Rust type.
        (
            Method::POST,
            tasks.clone(),
            json!(["from an array", g, 1, "2026-01-01", "i"]),
            400,
            "expected a JSON object",
        ),
        (
            Method::POST,
            "/tasks/batch".into(),
            json!({"task_ids": [t], "action": "update", "updates": ["title", 1]}),
            400,
            "updates: invalid type: sequence, expected a JSON object",
        ),
        (
            Method::POST,
            "/groups".into(),
            json!(["From an array", admin.id]),
            400,
            "expected a JSON object",
        ),
        (
            Method::POST,
            format!("/groups/{g}/users"),
            json!([u.id]),
            400,
            "expected a JSON object",
        ),
        (
            Method::PUT,
            task.clone(),
            json!(7),
            400,
            "invalid type: integer `7`, expected a JSON object",
        ),
        // U+0000 cannot be written behind to PostgreSQL: refused in every
        // stored text.
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "a\u{0}b", "group_id": g}),
            422,
            "title",
        ),
        (
            Method::PUT,
            user.clone(),
            json!({"full_name": "\u{0}"}),
            422,
            "full_name",
        ),
        (
            Method::POST,
            "/groups".into(),
            json!({"name": "G\u{0}", "admin_id": admin.id}),
            422,
            "name",
        ),
        // Malformed JSON and wrong types: 400.
        (
            Method::PUT,
            user.clone(),
            json!({"password": 918273645}),
            400,
            "password: invalid type, expected a string",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!("not an object"),
            400,
            "Invalid JSON",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "priority": "1"}),
            400,
            "priority",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": 5, "group_id": g}),
            400,
            "title",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": "one"}),
            400,
            "group_id",
        ),
        (
            Method::PUT,
            task.clone(),
            json!({"status": "done"}),
            400,
            "status",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"group_ids": "1"})),
            400,
            "group_ids",
        ),
        // Tasks.
        (
            Method::POST,
            tasks.clone(),
            json!({"group_id": g}),
            422,
            "Title",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "   ", "group_id": g}),
            422,
            "title",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x".repeat(256), "group_id": g}),
            422,
            "title",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x"}),
            422,
            "Group ID",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "priority": -1}),
            422,
            "priority",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "priority": 4}),
            422,
            "priority",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "deadline": "2023-02-29"}),
            422,
            "deadline",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "deadline": "tomorrow"}),
            422,
            "deadline",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "information": "i".repeat(5001)}),
            422,
            "information",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": -4}),
            422,
            "group_id",
        ),
        (
            Method::PUT,
            task.clone(),
            json!({"priority": 9}),
            422,
            "priority",
        ),
        (
            Method::PUT,
            task.clone(),
            json!({"deadline": "2025-13-01"}),
            422,
            "deadline",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "state": "doing"}),
            422,
            "state",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "labels": ["ok", "x".repeat(51)]}),
            422,
            "labels",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "labels": ["bell\u{7}"]}),
            422,
            "labels",
        ),
        (
            Method::POST,
            tasks.clone(),
            json!({"title": "x", "group_id": g, "labels": [true]}),
            400,
            "labels",
        ),
        (
            Method::PUT,
            task.clone(),
            json!({"state": "DONE"}),
            422,
            "state",
        ),
        (
            Method::PUT,
            task.clone(),
            json!({"add_labels": ["trailing "]}),
            422,
            "add_labels",
        ),
        (
            Method::POST,
            "/tasks/batch".into(),
            json!({"task_ids": [1], "updates": {"labels": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}}),
            422,
            "labels",
        ),
        // Users.
        (
            Method::POST,
            "/users".into(),
            json!({"full_name": "x"}),
            422,
            "required",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"email": "not-an-email"})),
            422,
            "email",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"password": "12345"})),
            422,
            "password",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"role": "superuser"})),
            422,
            "role",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"full_name": "n".repeat(256)})),
            422,
            "full_name",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"group_ids": [g, g]})),
            422,
            "group_ids",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"group_ids": [0]})),
            422,
            "group_ids",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"group_ids": [999999]})),
            422,
            "999999",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"work_times": {"Funday": 3}})),
            422,
            "work_times",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"work_times": {"Monday": 25}})),
            422,
            "work_times",
        ),
        (
            Method::POST,
            "/users".into(),
            user_body(json!({"work_times": {"Monday": -1}})),
            422,
            "work_times",
        ),
        (
            Method::PUT,
            user.clone(),
            json!({"email": "bad@"}),
            422,
            "email",
        ),
        (
            Method::PUT,
            user.clone(),
            json!({"number": "9".repeat(65)}),
            422,
            "number",
        ),
        (
            Method::PUT,
            format!("{user}/worktimes"),
            json!({"work_times": {"monday": 1, "Monday": 2}}),
            422,
            "work_times",
        ),
        // A wrong JSON type is 400, as for every other field.
        (
            Method::PUT,
            format!("{user}/worktimes"),
            json!({"work_times": [8]}),
            400,
            "work_times",
        ),
        (
            Method::PUT,
            format!("{user}/worktimes"),
            json!({"work_times": "8h"}),
            400,
            "work_times",
        ),
        (
            Method::PUT,
            format!("{user}/worktimes"),
            json!({"work_times": {"Monday": "8"}}),
            400,
            "work_times.Monday",
        ),
        (
            Method::PUT,
            user.clone(),
            json!({"work_times": {"Friday": true}}),
            400,
            "work_times.Friday",
        ),
        (
            Method::POST,
            "/users".into(),
            // Found first, as serde's type errors are, before other rules.
            json!({"full_name": "W", "email": "not an email", "password": "secret1", "work_times": [1]}),
            400,
            "work_times",
        ),
        // Groups.
        (
            Method::POST,
            "/groups".into(),
            json!({"admin_id": admin.id}),
            422,
            "name",
        ),
        (
            Method::POST,
            "/groups".into(),
            json!({"name": "g".repeat(101), "admin_id": admin.id}),
            422,
            "name",
        ),
        (
            Method::POST,
            "/groups".into(),
            json!({"name": "ok"}),
            422,
            "Admin ID",
        ),
        (
            Method::POST,
            format!("/groups/{g}/users"),
            json!({}),
            422,
            "User ID",
        ),
        // Batch.
        (
            Method::POST,
            "/tasks/batch".into(),
            json!({"task_ids": [t], "action": "nuke"}),
            422,
            "action",
        ),
        (
            Method::POST,
            "/tasks/batch".into(),
            json!({"task_ids": [0]}),
            422,
            "task_ids",
        ),
        (
            Method::POST,
            "/tasks/batch".into(),
            json!({"task_ids": (1..=1001).collect::<Vec<u64>>(), "action": "delete"}),
            422,
            "task_ids",
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, want, needle) in rows {
        let res = app
            .call(method.clone(), &path, &Auth::Owner, Some(body.clone()))
            .await;
        let text = res.text();
        // No message names a Rust type (`struct CreateTask`) or repeats
        // the refused password.
        if res.status.as_u16() != want
            || !text.contains(needle)
            || text.contains("struct ")
            || text.contains("918273645")
        {
            failures.push(format!(
                "{method} {path} {body}: want {want} naming `{needle}`, got {} {text}",
                res.status.as_u16()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing was changed by any of the refused requests.
    let got = app
        .call(Method::GET, &task, &Auth::Owner, None)
        .await
        .json();
    assert_eq!(got["data"]["title"], "t");
    assert_eq!(got["data"]["priority"], 2);
    let users = app
        .call(Method::GET, "/users", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(users["data"]["count"], 3, "owner, admin and u only");
}

#[tokio::test]
async fn malformed_bodies_and_ids_never_cause_a_500() {
    let app = spawn_app().await;
    let owner = [
        ("x-owner-password", taskmaster_tests::OWNER_PASSWORD),
        ("content-type", "application/json"),
    ];
    for (path, body) in [
        ("/users", ""),
        ("/users", "{"),
        ("/users", "null"),
        ("/users", "[]"),
        ("/users", "{\"full_name\": \"\\ud800\"}"),
        ("/groups", "\u{0}"),
        ("/tasks/batch", "{\"task_ids\": [1e400]}"),
        ("/tasks/batch", "{\"task_ids\": [18446744073709551616]}"),
    ] {
        let res = app
            .request(Method::POST, path, &owner, body.to_owned())
            .await;
        assert!(
            res.status.is_client_error(),
            "{path} {body:?}: {} {}",
            res.status,
            res.text()
        );
        assert_eq!(res.json()["success"], false);
    }
    for path in [
        "/users/abc",
        "/users/-1",
        "/users/0",
        "/users/99999999999999999999999",
        "/groups/1.5",
        "/users/1/tasks/x",
    ] {
        let res = app.request(Method::GET, path, &owner, "").await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            res.text()
        );
    }
    let empty = app.request(Method::POST, "/users", &owner, "").await;
    assert_eq!(empty.json()["error"], "Invalid JSON: EOF");
}

#[tokio::test]
async fn cors_preflight_is_answered_before_authentication() {
    let app = spawn_app().await;
    let res = app
        .request(Method::OPTIONS, "/users/1/tasks", &[], "")
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    let res = app.call(Method::GET, "/users", &Auth::None, None).await;
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
}

/// As in the reference system, field names match in any case and unknown
/// fields are ignored; when two spellings of one field come, the exact
/// lower-case one wins, else the first. Also inside a batch's `updates`.
#[tokio::test]
async fn field_names_match_in_any_case_and_the_exact_spelling_wins() {
    let app = spawn_app().await;
    let (_admin, g, u) = app.seed_team().await;
    let tasks = format!("/users/{}/tasks", u.id);
    // Twice: the second create takes the path of a remembered login.
    for n in 0..2 {
        let res = app
            .call(
                Method::POST,
                &tasks,
                &u.auth(),
                Some(json!({"TITLE": format!("Upper {n}"), "Group_ID": g, "Priority": 3, "Extra": {"Title": "no"}})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        let task = &res.json()["data"]["task"];
        assert_eq!(task["title"], format!("Upper {n}"));
        assert_eq!(task["priority"], 3);
        assert_eq!(task["group_id"], g);
    }
    let owner = [
        ("x-owner-password", taskmaster_tests::OWNER_PASSWORD),
        ("content-type", "application/json"),
    ];
    for (body, title) in [
        (r#"{"Title":"upper","title":"exact","group_id":G}"#, "exact"),
        (r#"{"title":"exact","Title":"upper","group_id":G}"#, "exact"),
        (
            r#"{"TITLE":"first","Title":"second","group_id":G}"#,
            "first",
        ),
    ] {
        let body = body.replace('G', &g.to_string());
        let res = app
            .request(Method::POST, &tasks, &owner, body.clone())
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{body}: {}", res.text());
        assert_eq!(res.json()["data"]["task"]["title"], title, "{body}");
    }
    let t = app.seed_task(u.id, g, "before").await;
    let body = format!(
        r#"{{"Task_IDs":[{t}],"ACTION":"update","Updates":{{"Title":"after","STATUS":true}}}}"#
    );
    let res = app
        .request(Method::POST, "/tasks/batch", &owner, body)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let read = app
        .call(Method::GET, &format!("{tasks}/{t}"), &Auth::Owner, None)
        .await;
    assert_eq!(read.json()["data"]["title"], "after");
    assert_eq!(read.json()["data"]["status"], true);
}
