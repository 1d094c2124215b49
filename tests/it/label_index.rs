//! A group's labels in use (its label index, kept by every write) and
//! renaming a label across the group, each task atomically, under
//! concurrent edits too (thousands of tasks: `stepped_writes.rs`).

use std::collections::BTreeMap;

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp, spawn_app};

use crate::labels::{create, labels_of};

/// The group's labels as the owner reads them: name → count.
async fn group_labels(app: &TestApp, group: u64, auth: &Auth) -> BTreeMap<String, u64> {
    let res = app
        .call(Method::GET, &format!("/groups/{group}/labels"), auth, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    let labels = body["data"]["labels"].as_array().expect("labels");
    assert_eq!(body["data"]["count"], labels.len());
    labels
        .iter()
        .map(|l| {
            (
                l["name"].as_str().expect("name").to_owned(),
                l["count"].as_u64().expect("count"),
            )
        })
        .collect()
}

/// The group's tasks, as the owner reads them.
async fn group_tasks(app: &TestApp, group: u64) -> Vec<Value> {
    app.owner_list(&format!("/groups/{group}/tasks"), "tasks")
        .await
}

/// The labels of the group's tasks counted from the tasks themselves.
async fn counted(app: &TestApp, group: u64) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for t in &group_tasks(app, group).await {
        for l in labels_of(t) {
            *counts.entry(l).or_default() += 1;
        }
    }
    counts
}

#[tokio::test]
async fn a_groups_labels_in_use_follow_every_write_and_show_a_member_only_its_own() {
    let app = spawn_app().await;
    let (admin, g1, u) = app.seed_team().await;
    let g2 = app.seed_group(admin.id).await;
    let u2 = app.seed_user("user", &[g1, g2]).await;
    let a = create(
        &app,
        &u,
        json!({"title": "a", "group_id": g1, "labels": ["x", "y"]}),
    )
    .await;
    let b = create(
        &app,
        &u2,
        json!({"title": "b", "group_id": g1, "labels": ["x", "secret"]}),
    )
    .await;
    let expected: BTreeMap<String, u64> =
        [("secret".into(), 1), ("x".into(), 2), ("y".into(), 1)].into();
    assert_eq!(group_labels(&app, g1, &Auth::Owner).await, expected);
    assert_eq!(group_labels(&app, g1, &admin.auth()).await, expected);
    // A member reads the labels of its own tasks only.
    let own: BTreeMap<String, u64> = [("x".into(), 1), ("y".into(), 1)].into();
    assert_eq!(group_labels(&app, g1, &u.auth()).await, own);

    // Moving a task to another group moves its labels; deleting one, or
    // its user leaving the group, takes them away.
    let bp = format!("/users/{}/tasks/{}", u2.id, b["id"]);
    let res = app
        .call(
            Method::PUT,
            &bp,
            &Auth::Owner,
            Some(json!({"group_id": g2})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        group_labels(&app, g1, &Auth::Owner).await,
        counted(&app, g1).await
    );
    assert_eq!(
        group_labels(&app, g2, &Auth::Owner).await,
        [("secret".into(), 1), ("x".into(), 1)].into()
    );
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}/tasks/{}", u.id, a["id"]),
            &u.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(group_labels(&app, g1, &Auth::Owner).await.is_empty());
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g2}/users/{}", u2.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // u2's task moved on to its remaining group, g1, with its labels.
    assert_eq!(
        group_labels(&app, g1, &Auth::Owner).await,
        [("secret".into(), 1), ("x".into(), 1)].into()
    );
    assert!(group_labels(&app, g2, &Auth::Owner).await.is_empty());
    let res = app
        .call(Method::DELETE, &format!("/groups/{g1}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    // Nothing of the deleted group's index is left in Redis.
    let mut redis = app.redis().await;
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}group:{g1}:label*", app.keys.prefix()))
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn renaming_a_label_across_a_group_changes_every_task_whole() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let other = app.seed_group(admin.id).await;
    let u2 = app.seed_user("user", &[group, other]).await;
    let mut mine = Vec::new();
    for (who, labels) in [
        (&u, json!(["old", "keep"])),
        (&u, json!(["old", "new"])),
        (&u2, json!(["old"])),
        (&u2, json!(["unrelated"])),
    ] {
        let t = create(
            &app,
            who,
            json!({"title": "r", "group_id": group, "labels": labels}),
        )
        .await;
        mine.push((
            who.id,
            t["id"].as_u64().expect("id"),
            t["updated_at"].clone(),
        ));
    }
    // The same label in another group is not touched.
    let elsewhere = create(
        &app,
        &u2,
        json!({"title": "e", "group_id": other, "labels": ["old"]}),
    )
    .await;

    let rename = |from: &str, to: &str, auth: Auth| {
        let body = json!({"from": from, "to": to});
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("/groups/{group}/labels/rename"),
                &auth,
                Some(body),
            )
            .await
        }
    };
    let res = rename("old", "new", admin.auth()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let data = &res.json()["data"];
    assert_eq!(data["renamed_tasks"], 3, "{data}");
    assert_eq!(data["from"], "old");
    assert_eq!(data["to"], "new");
    let expected = [
        vec!["keep", "new"],
        vec!["new"],
        vec!["new"],
        vec!["unrelated"],
    ];
    for ((user, tid, updated), labels) in mine.iter().zip(expected) {
        let t = app
            .call(
                Method::GET,
                &format!("/users/{user}/tasks/{tid}"),
                &Auth::Owner,
                None,
            )
            .await
            .json()["data"]
            .clone();
        assert_eq!(labels_of(&t), labels, "{t}");
        // Only the renamed ones changed.
        assert_eq!(t["updated_at"] == *updated, labels == ["unrelated"], "{t}");
    }
    let elsewhere = elsewhere["id"].as_u64().expect("id");
    let t = app.task(u2.id, elsewhere, &Auth::Owner).await;
    assert_eq!(labels_of(&t), ["old"]);
    assert_eq!(
        group_labels(&app, group, &Auth::Owner).await,
        counted(&app, group).await
    );

    // Renaming what no task carries, or to itself, changes nothing.
    for (from, to, n) in [("absent", "x", 0), ("new", "new", 3)] {
        let res = rename(from, to, Auth::Owner).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.json()["data"]["renamed_tasks"], n);
    }
    // Bad names are 422 naming the field; a malformed body 400.
    for (body, field) in [
        (json!({"from": "", "to": "x"}), "from"),
        (json!({"to": "x"}), "from"),
        (json!({"from": "x", "to": "x".repeat(51)}), "to"),
        (json!({"from": "x", "to": "tab\there"}), "to"),
    ] {
        let res = app
            .call(
                Method::POST,
                &format!("/groups/{group}/labels/rename"),
                &Auth::Owner,
                Some(body),
            )
            .await;
        res.assert_invalid(field);
    }
    let res = app
        .request(
            Method::POST,
            &format!("/groups/{group}/labels/rename"),
            &[
                ("content-type", "application/json"),
                ("x-owner-password", taskmaster_tests::OWNER_PASSWORD),
            ],
            "{\"from\": ",
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
}

#[tokio::test]
async fn a_rename_under_concurrent_edits_loses_no_edit_and_leaves_no_half_renamed_group() {
    let app = spawn_app().await;
    let (admin, group, _) = app.seed_team().await;
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(app.seed_user("user", &[group]).await);
    }
    let mut tasks = Vec::new();
    for i in 0..40 {
        let who = &users[i % users.len()];
        let t = create(
            &app,
            who,
            json!({"title": format!("c{i}"), "group_id": group, "labels": ["old"]}),
        )
        .await;
        tasks.push((who.clone(), t["id"].as_u64().expect("id")));
    }
    // At once: the rename; an edit adding a label to every task (each
    // through its own user); and new tasks created with the old label.
    let (rename_path, admin_auth) = (format!("/groups/{group}/labels/rename"), admin.auth());
    let rename = app.call(
        Method::POST,
        &rename_path,
        &admin_auth,
        Some(json!({"from": "old", "to": "new"})),
    );
    let edits = join_all(tasks.iter().map(|(who, tid)| {
        let (path, auth) = (format!("/users/{}/tasks/{tid}", who.id), who.auth());
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                &path,
                &auth,
                Some(json!({"add_labels": ["edited"]})),
            )
            .await
        }
    }));
    let creates = join_all((0..10).map(|i| {
        let who = &users[i % users.len()];
        let (path, auth) = (format!("/users/{}/tasks", who.id), who.auth());
        let body = json!({"title": format!("late {i}"), "group_id": group, "labels": ["old"]});
        let app = &app;
        async move { app.call(Method::POST, &path, &auth, Some(body)).await }
    }));
    let (renamed, edited, created) = tokio::join!(rename, edits, creates);
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    assert!(edited.iter().all(|r| r.status == StatusCode::OK));
    assert!(created.iter().all(|r| r.status == StatusCode::CREATED));
    let all = group_tasks(&app, group).await;
    assert_eq!(all.len(), 50);
    let mut renamed_now = 0;
    for t in &all {
        let labels = labels_of(t);
        let late = t["title"].as_str().expect("title").starts_with("late");
        // Each task holds exactly one of the two names: never both, never
        // neither (a rename applies to a whole task or not at all).
        assert!(
            labels.contains(&"old".to_owned()) != labels.contains(&"new".to_owned()),
            "{t}"
        );
        if labels.contains(&"new".to_owned()) {
            renamed_now += 1;
        }
        if !late {
            // Every original was renamed (it carried the label when the
            // rename ran) and no edit was lost to it.
            assert_eq!(labels, ["edited", "new"], "{t}");
        }
    }
    // The rename answered exactly the tasks it changed: the originals and
    // the creates that came before it.
    assert_eq!(renamed.json()["data"]["renamed_tasks"], renamed_now);
    assert_eq!(
        group_labels(&app, group, &Auth::Owner).await,
        counted(&app, group).await
    );
}
