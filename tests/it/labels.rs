//! Labels: a set of short strings on each task, within their limits, and
//! the filters by label and state on every task list (a group's label
//! index and the rename are in `label_index.rs`).

use std::collections::BTreeMap;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, Seeded, TestApp, spawn_app};

pub(crate) async fn create(app: &TestApp, user: &Seeded, body: Value) -> Value {
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", user.id),
            &user.auth(),
            Some(body),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    res.json()["data"]["task"].clone()
}

pub(crate) fn labels_of(task: &Value) -> Vec<String> {
    task["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| l.as_str().expect("a label").to_owned())
        .collect()
}

/// Percent-encodes a query value.
fn q(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn labels_are_a_sorted_set_of_unicode_strings_within_their_limits() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let fifty = "é".repeat(50);
    let task = create(
        &app,
        &u,
        json!({"title": "l", "group_id": group,
               "labels": ["zeta", "Ünïcode", "日本語", "zeta", "emoji 😀", "a/b \"c\"", fifty]}),
    )
    .await;
    let mut expected = vec![
        "zeta".to_owned(),
        "Ünïcode".to_owned(),
        "日本語".to_owned(),
        "emoji 😀".to_owned(),
        "a/b \"c\"".to_owned(),
        fifty.clone(),
    ];
    expected.sort();
    assert_eq!(labels_of(&task), expected, "a set, in byte order");
    let tid = task["id"].as_u64().expect("id");
    let path = format!("/users/{}/tasks/{tid}", u.id);
    let got = app.task(u.id, tid, &u.auth()).await;
    assert_eq!(labels_of(&got), expected, "stored as answered");

    // add_labels then remove_labels, on a PUT and in a batch.
    let res = app
        .call(
            Method::PUT,
            &path,
            &u.auth(),
            Some(json!({"add_labels": ["new"], "remove_labels": ["zeta", "absent"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let mut now = expected.clone();
    now.retain(|l| l != "zeta");
    now.push("new".into());
    now.sort();
    assert_eq!(labels_of(&res.json()["data"]["task"]), now);
    // `labels: []` clears; `labels: null` and absence leave them.
    for (body, after) in [
        (json!({"labels": null}), now.clone()),
        (json!({"title": "t"}), now.clone()),
        (json!({"labels": []}), Vec::new()),
    ] {
        let res = app.call(Method::PUT, &path, &u.auth(), Some(body)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(labels_of(&res.json()["data"]["task"]), after);
    }

    // Invalid labels: 422 naming the field, nothing changed.
    let twenty_one: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
    let twenty: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"labels": [""]}), "labels"),
        (json!({"labels": ["é".repeat(51)]}), "labels"),
        (json!({"labels": [" padded"]}), "labels"),
        (json!({"labels": ["line\nbreak"]}), "labels"),
        (json!({"labels": ["nul\u{0}"]}), "labels"),
        (json!({"labels": twenty_one}), "labels"),
        (json!({"add_labels": [""]}), "add_labels"),
        (json!({"remove_labels": ["x".repeat(51)]}), "remove_labels"),
        (
            json!({"labels": (0..10_000).map(|i| format!("l{i}")).collect::<Vec<_>>()}),
            "labels",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .call(Method::PUT, &path, &u.auth(), Some(body.clone()))
            .await;
        res.assert_invalid(field);
    }
    // A label of the wrong JSON type is malformed.
    let res = app
        .call(Method::PUT, &path, &u.auth(), Some(json!({"labels": [1]})))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    let res = app
        .call(Method::PUT, &path, &u.auth(), Some(json!({"labels": "a"})))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());

    // Twenty fit; adding one more to a full task is refused, in a batch
    // all or nothing.
    let res = app
        .call(
            Method::PUT,
            &path,
            &u.auth(),
            Some(json!({"labels": twenty})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let other = create(&app, &u, json!({"title": "o", "group_id": group})).await;
    let other_id = other["id"].as_u64().expect("id");
    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": [other_id, tid], "updates": {"add_labels": ["one more"], "title": "x"}})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        res.text()
    );
    assert!(
        res.text().contains(&format!("task {tid}")),
        "{}",
        res.text()
    );
    for (id, labels) in [(tid, 20), (other_id, 0)] {
        let got = app.task(u.id, id, &u.auth()).await;
        assert_eq!(labels_of(&got).len(), labels);
        assert_ne!(got["title"], "x");
    }
    // Adding one already there does not count twice.
    let res = app
        .call(
            Method::PUT,
            &path,
            &u.auth(),
            Some(json!({"add_labels": ["l3"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

#[tokio::test]
async fn every_task_list_filters_by_state_and_label() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let u2 = app.seed_user("user", &[group]).await;
    let mut ids = BTreeMap::new();
    for (name, who, state, labels) in [
        ("a", &u, "todo", json!(["bug", "日本"])),
        ("b", &u, "in_progress", json!(["bug"])),
        ("c", &u, "done", json!([])),
        ("d", &u2, "in_progress", json!(["bug", "日本"])),
    ] {
        let t = create(
            &app,
            who,
            json!({"title": name, "group_id": group, "state": state, "labels": labels}),
        )
        .await;
        ids.insert(name, t["id"].as_u64().expect("id"));
    }
    let names = |body: &Value, key: &str| -> Vec<String> {
        let mut found: Vec<String> = body["data"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|t| t["title"].as_str().expect("title").to_owned())
            .collect();
        found.sort();
        found
    };
    let up = format!("/users/{}/tasks", u.id);
    let gp = format!("/groups/{group}/tasks");
    let cases: Vec<(String, &Auth, &str, Vec<&str>)> = vec![
        (
            format!("{up}?state=in_progress"),
            &Auth::Owner,
            "tasks",
            vec!["b"],
        ),
        (
            format!("{up}?label=bug"),
            &Auth::Owner,
            "tasks",
            vec!["a", "b"],
        ),
        (
            format!("{up}?label={}", q("日本")),
            &Auth::Owner,
            "tasks",
            vec!["a"],
        ),
        (
            format!("{up}?state=done&label=bug"),
            &Auth::Owner,
            "tasks",
            vec![],
        ),
        (
            format!("{up}?state="),
            &Auth::Owner,
            "tasks",
            vec!["a", "b", "c"],
        ),
        (
            format!("{gp}?label=bug"),
            &Auth::Owner,
            "tasks",
            vec!["a", "b", "d"],
        ),
        (
            format!("{gp}?state=in_progress"),
            &Auth::Owner,
            "tasks",
            vec!["b", "d"],
        ),
        (
            "/tasks/filter?state=in_progress&label=bug".into(),
            &Auth::Owner,
            "tasks",
            vec!["b", "d"],
        ),
        (
            "/tasks/filter?status=pending&label=bug".into(),
            &Auth::Owner,
            "tasks",
            vec!["a", "b", "d"],
        ),
        (
            format!("/tasks/filter?label={}", q("日本")),
            &Auth::Owner,
            "tasks",
            vec!["a", "d"],
        ),
        (
            "/tasks/filter?label=no%20such".into(),
            &Auth::Owner,
            "tasks",
            vec![],
        ),
    ];
    for (path, auth, key, expected) in &cases {
        let res = app.call(Method::GET, path, auth, None).await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {}", res.text());
        let body = res.json();
        assert_eq!(names(&body, key), *expected, "{path}");
        assert_eq!(body["data"]["count"], expected.len(), "{path}");
    }
    // A filter never widens what a caller may see: a plain member filtering
    // the group's tasks gets its own only.
    let u_auth = u.auth();
    for (path, expected) in [
        (format!("{gp}?label=bug"), vec!["a", "b"]),
        ("/tasks/filter?label=bug".to_owned(), vec!["a", "b"]),
    ] {
        let res = app.call(Method::GET, &path, &u_auth, None).await;
        assert_eq!(names(&res.json(), "tasks"), expected, "{path}");
    }
    let res = app
        .call(Method::GET, "/tasks/filter?label=bug", &admin.auth(), None)
        .await;
    assert_eq!(names(&res.json(), "tasks"), vec!["a", "b", "d"]);
    // The filtered list and the whole one agree with each other after a
    // write (the whole list is kept in memory under a version).
    let all = app.call(Method::GET, &up, &u_auth, None).await;
    assert_eq!(all.json()["data"]["count"], 3);
    let res = app
        .call(
            Method::PUT,
            &format!("{up}/{}", ids["c"]),
            &u_auth,
            Some(json!({"labels": ["bug"], "state": "todo"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app
        .call(
            Method::GET,
            &format!("{up}?label=bug&state=todo"),
            &u_auth,
            None,
        )
        .await;
    assert_eq!(names(&res.json(), "tasks"), vec!["a", "c"]);
    // Bad filters: 422 naming the parameter.
    for path in [
        format!("{up}?state=doing"),
        format!("{gp}?state=DONE"),
        "/tasks/filter?state=x".to_owned(),
        format!("{up}?label={}", "x".repeat(51)),
        format!("/tasks/filter?label={}", q(" lead")),
    ] {
        let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            res.text()
        );
        let error = res.json()["error"].as_str().expect("error").to_owned();
        assert!(
            error.starts_with("state:") || error.starts_with("label:"),
            "{error}"
        );
    }
}
