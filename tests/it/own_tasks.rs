//! A caller's own tasks, on the paths that authenticate in the same Redis
//! round trip as their data: every change of credential and every write
//! must show at once.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, spawn_app};

use crate::tasks::task_count;

/// Creating one's own task with a recently verified password skips reading
/// the user's record; the write itself must still refuse a credential that
/// changed in between.
#[tokio::test]
async fn creating_own_tasks_is_refused_at_once_after_a_password_change_or_deletion() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let base = format!("/users/{}/tasks", u.id);
    let body = json!({"title": "Ünïcode \"quoted\" /slash\\ \u{1F600}", "group_id": group});
    for _ in 0..3 {
        let res = app
            .call(Method::POST, &base, &u.auth(), Some(body.clone()))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        // What was answered is what was stored, text byte for byte.
        let task = res.json()["data"]["task"].clone();
        assert_eq!(task["title"], body["title"]);
        let stored = app
            .call(
                Method::GET,
                &format!("{base}/{}", task["id"]),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(stored.json()["data"], task);
    }
    assert_eq!(task_count(&app, u.id).await, 3);

    // A role change keeps the password valid: still allowed.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"role": "group_admin"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(Method::POST, &base, &u.auth(), Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert_eq!(task_count(&app, u.id).await, 4);

    // A new password, set through another api instance: the old one is
    // refused on the next create, and nothing is written.
    let other = app.restart_same_prefix().await;
    let res = other
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"password": "brand-new-pw"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(Method::POST, &base, &u.auth(), Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    assert_eq!(task_count(&app, u.id).await, 4);
    let new = Auth::Basic(u.id.to_string(), "brand-new-pw".into());
    for _ in 0..2 {
        let res = app
            .call(Method::POST, &base, &new, Some(body.clone()))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    }
    assert_eq!(task_count(&app, u.id).await, 6);

    // Deleted: refused, and no row appears for the gone user.
    let res = other
        .call(
            Method::DELETE,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(Method::POST, &base, &new, Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    let res = app.call(Method::GET, &base, &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
}

/// Reading one's own task or task list with a recently verified password
/// reads only the user's credential version; a changed password,
/// a changed role or a deleted user must still show on the next read, on
/// this instance and on another.
#[tokio::test]
async fn reading_own_tasks_follows_a_password_change_role_change_or_deletion_at_once() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let task = app.seed_task(u.id, group, "mine").await;
    let list = format!("/users/{}/tasks", u.id);
    let one = format!("{list}/{task}");
    let new = Auth::Basic(u.id.to_string(), "brand-new-pw".into());
    // The first read verifies the password; the next ones take the short way.
    for _ in 0..3 {
        let res = app.call(Method::GET, &one, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.json()["data"]["id"], task);
        let res = app.call(Method::GET, &list, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.json()["data"]["count"], 1);
    }
    // Someone else's task is still not found through one's own path.
    let (_, other_group, stranger) = app.seed_team().await;
    let theirs = app.seed_task(stranger.id, other_group, "theirs").await;
    let res = app
        .call(Method::GET, &format!("{list}/{theirs}"), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());

    // A role change is seen by the next read (promoted to owner, the user
    // may now read anyone's tasks) and keeps the password working.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let theirs_path = format!("/users/{}/tasks/{theirs}", stranger.id);
    let res = app.call(Method::GET, &theirs_path, &u.auth(), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for path in [&one, &list] {
        let res = app.call(Method::GET, path, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }

    // A new password, set through another instance: the old one is refused
    // at once by both.
    let other = app.restart_same_prefix().await;
    for path in [&one, &list] {
        let res = other.call(Method::GET, path, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    let res = other
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"password": "brand-new-pw"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for instance in [&app, &other] {
        for path in [&one, &list] {
            let res = instance.call(Method::GET, path, &u.auth(), None).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
            let res = instance.call(Method::GET, path, &new, None).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        }
    }

    // Deleted: refused everywhere on the next read.
    let res = other
        .call(
            Method::DELETE,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for instance in [&app, &other] {
        for path in [&one, &list] {
            let res = instance.call(Method::GET, path, &new, None).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
        }
    }
}

/// `(id, title, status, priority, group_id)` of every task in a list
/// answer, checking the answer's shape and its order by id on the way.
pub(crate) fn list_rows(body: &Value) -> Vec<(u64, String, bool, u64, u64)> {
    let tasks = body["data"]["tasks"].as_array().expect("tasks");
    assert_eq!(body["data"]["count"], tasks.len(), "{body}");
    let rows: Vec<_> = tasks
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().expect("id"),
                t["title"].as_str().expect("title").to_owned(),
                t["status"].as_bool().expect("status"),
                t["priority"].as_u64().expect("priority"),
                t["group_id"].as_u64().expect("group_id"),
            )
        })
        .collect();
    assert!(
        rows.windows(2).all(|w| w[0].0 < w[1].0),
        "not by id: {body}"
    );
    rows
}

#[tokio::test]
async fn a_task_list_follows_every_change_to_its_tasks_at_once_on_every_instance() {
    let app = spawn_app().await;
    let other = app.restart_same_prefix().await;
    let (admin, g1, u) = app.seed_team().await;
    let g2 = app.seed_group(admin.id).await;
    app.seed_member(g2, u.id).await;
    let list = format!("/users/{}/tasks", u.id);
    // Every reader, on both instances, must see `expected` on every read
    // (the second read of each is the one a kept answer would serve).
    let check = |expected: Vec<(u64, String, bool, u64, u64)>| {
        let (app, other, list, u) = (&app, &other, &list, &u);
        async move {
            for instance in [app, other] {
                for auth in [u.auth(), Auth::Owner] {
                    for _ in 0..2 {
                        let res = instance.call(Method::GET, list, &auth, None).await;
                        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
                        assert_eq!(list_rows(&res.json()), expected);
                    }
                }
            }
        }
    };
    check(Vec::new()).await;

    let mut ids = Vec::new();
    for (title, group) in [("a", g1), ("b", g2), ("c", g1)] {
        let res = app
            .call(
                Method::POST,
                &list,
                &u.auth(),
                Some(json!({"title": title, "group_id": group, "priority": 2})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        ids.push(res.json()["data"]["task"]["id"].as_u64().expect("id"));
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let row =
        |id, title: &str, done, priority, group| (id, title.to_owned(), done, priority, group);
    check(vec![
        row(a, "a", false, 2, g1),
        row(b, "b", false, 2, g2),
        row(c, "c", false, 2, g1),
    ])
    .await;

    // An update through the other instance.
    let res = other
        .call(
            Method::PUT,
            &format!("{list}/{a}"),
            &u.auth(),
            Some(json!({"title": "A"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![
        row(a, "A", false, 2, g1),
        row(b, "b", false, 2, g2),
        row(c, "c", false, 2, g1),
    ])
    .await;

    // Done, then a batch.
    let res = app
        .call(Method::PUT, &format!("{list}/{b}/done"), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = other
        .call(
            Method::POST,
            "/tasks/batch",
            &Auth::Owner,
            Some(json!({"task_ids": [a, c], "updates": {"priority": 1}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![
        row(a, "A", false, 1, g1),
        row(b, "b", true, 2, g2),
        row(c, "c", false, 1, g1),
    ])
    .await;

    // Removed from g2: its task there moves to g1.
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g2}/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![
        row(a, "A", false, 1, g1),
        row(b, "b", true, 2, g1),
        row(c, "c", false, 1, g1),
    ])
    .await;

    // One deleted, then the group with the rest.
    let res = other
        .call(Method::DELETE, &format!("{list}/{c}"), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![row(a, "A", false, 1, g1), row(b, "b", true, 2, g1)]).await;
    let res = app
        .call(Method::DELETE, &format!("/groups/{g1}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(Vec::new()).await;
}

#[tokio::test]
async fn a_group_admin_sees_only_the_listed_users_tasks_in_groups_it_administers() {
    let app = spawn_app().await;
    let (admin, g1, u) = app.seed_team().await;
    let other_admin = app.seed_user("group_admin", &[]).await;
    let g2 = app.seed_group(other_admin.id).await;
    app.seed_member(g2, u.id).await;
    let mine = app.seed_task(u.id, g1, "in g1").await;
    app.seed_task(u.id, g2, "in g2").await;
    let list = format!("/users/{}/tasks", u.id);
    // The full list is read (and kept) first, by the user and the owner.
    for auth in [u.auth(), Auth::Owner] {
        let res = app.call(Method::GET, &list, &auth, None).await;
        assert_eq!(list_rows(&res.json()).len(), 2);
    }
    let res = app.call(Method::GET, &list, &admin.auth(), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let rows = list_rows(&res.json());
    assert_eq!(rows.len(), 1, "{}", res.text());
    assert_eq!(rows[0].0, mine);
    // Someone unrelated: 403; an unknown user: 404.
    let stranger = app.seed_user("user", &[]).await;
    let res = app.call(Method::GET, &list, &stranger.auth(), None).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    let res = app
        .call(Method::GET, "/users/987654321/tasks", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
}
