//! Pages of the other lists: searches and filters over what the caller
//! may see, and the lists ordered by id alone (users, user search,
//! groups, members), walked by cursor, by page and backwards.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp, spawn_app};

use crate::pages::{varied, walk};

/// The ids of the `key` items (a task search's `results` hold each task
/// under `task`) of every page of the list walked by cursor from `path`; each
/// page's `count` is its items'.
async fn walk_ids(app: &TestApp, path: &str, auth: &Auth, key: &str) -> Vec<u64> {
    let (_, pages) = walk(app, path, auth).await;
    let mut out = Vec::new();
    for page in pages {
        let body = page.json();
        let items = body["data"][key].as_array().expect("items");
        assert_eq!(body["data"]["count"].as_u64(), Some(items.len() as u64));
        for item in items {
            // A task search's hit holds its task; a user search's is the user.
            let row: &Value = if item["task"].is_object() {
                assert_eq!(item["user_id"], item["task"]["user_id"]);
                &item["task"]
            } else {
                item
            };
            out.push(row["id"].as_u64().expect("id"));
        }
    }
    out
}

#[tokio::test]
async fn searches_and_filters_page_through_what_the_caller_may_see() {
    let app = spawn_app().await;
    let (user, group, _) = varied(&app, 25).await;
    // Another team's tasks: the owner's views hold them, the admin's not.
    varied(&app, 10).await;
    let admin = app.seed_user("group_admin", &[]).await;
    // The owner sees every task; `admin` administers `group`.
    let res = app
        .call(
            Method::PUT,
            &format!("/groups/{group}"),
            &Auth::Owner,
            Some(json!({"admin_id": admin.id})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for auth in [Auth::Owner, admin.auth()] {
        for (path, key) in [
            ("/tasks/search?q=needle", "results"),
            ("/tasks/search?q=TASK&state=todo", "results"),
            ("/tasks/filter?status=pending", "tasks"),
            (
                &*format!("/tasks/filter?group_id={group}&priority=2"),
                "tasks",
            ),
            (&*format!("/tasks/filter?user_id={user}"), "tasks"),
        ] {
            let unpaged = app.call(Method::GET, path, &auth, None).await;
            assert_eq!(unpaged.status, StatusCode::OK, "{path}: {}", unpaged.text());
            let want: Vec<u64> = unpaged.json()["data"][key]
                .as_array()
                .expect("rows")
                .iter()
                .map(|r| {
                    let t = if key == "results" { &r["task"] } else { r };
                    t["id"].as_u64().expect("id")
                })
                .collect();
            assert!(!want.is_empty(), "{path} finds something");
            let paged = walk_ids(&app, &format!("{path}&limit=3"), &auth, key).await;
            assert_eq!(paged, want, "{path} by pages of 3 as {auth:?}");
            let mut newest = want.clone();
            newest.reverse();
            let sorted = walk_ids(&app, &format!("{path}&limit=4&sort=-id"), &auth, key).await;
            assert_eq!(sorted, newest, "{path} newest first");
        }
    }
    // A plain user may not search at all, paged or not.
    let plain = app.seed_user("user", &[group]).await;
    let res = app
        .call(
            Method::GET,
            "/tasks/search?q=x&limit=2",
            &plain.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn users_groups_and_members_page_by_id_for_what_the_caller_may_list() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let mut members = Vec::new();
    for _ in 0..7 {
        members.push(app.seed_user("user", &[group]).await.id);
    }
    app.seed_group(admin.id).await;
    for (path, key, auth) in [
        ("/users", "users", Auth::Owner),
        ("/users", "users", admin.auth()),
        ("/groups", "groups", Auth::Owner),
        (&*format!("/groups/{group}/users"), "users", Auth::Owner),
        (&*format!("/groups/{group}/users"), "users", admin.auth()),
        ("/users/search?q=USER", "results", Auth::Owner),
        ("/users/search?q=example.com", "results", admin.auth()),
    ] {
        let unpaged = app.call(Method::GET, path, &auth, None).await;
        assert_eq!(unpaged.status, StatusCode::OK, "{path}: {}", unpaged.text());
        let want: Vec<u64> = unpaged.json()["data"][key]
            .as_array()
            .expect("items")
            .iter()
            .map(|u| u["id"].as_u64().expect("id"))
            .collect();
        assert!(want.len() >= 2, "{path}");
        assert!(want.windows(2).all(|w| w[0] < w[1]), "{path}: by id");
        let sep = if path.contains('?') { '&' } else { '?' };
        let paged = walk_ids(&app, &format!("{path}{sep}limit=2"), &auth, key).await;
        assert_eq!(paged, want, "{path} by pages of 2");
        let mut newest = want.clone();
        newest.reverse();
        let back = walk_ids(&app, &format!("{path}{sep}limit=3&sort=-id"), &auth, key).await;
        assert_eq!(back, newest, "{path} newest first");
        let second = app
            .call(
                Method::GET,
                &format!("{path}{sep}page=2&per_page=2"),
                &auth,
                None,
            )
            .await;
        let ids: Vec<u64> = second.json()["data"][key]
            .as_array()
            .expect("items")
            .iter()
            .map(|u| u["id"].as_u64().expect("id"))
            .collect();
        assert_eq!(ids, want[2..4.min(want.len())], "{path} page 2");
        app.call(
            Method::GET,
            &format!("{path}{sep}sort=deadline"),
            &auth,
            None,
        )
        .await
        .assert_invalid("sort");
    }
    // An admin's list holds itself and its members only.
    let listed = walk_ids(&app, "/users?limit=4", &admin.auth(), "users").await;
    let mut expected = members.clone();
    expected.push(admin.id);
    expected.sort_unstable();
    assert_eq!(listed, expected);
}
