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

/// Follows the `Link` of each page of a log from `path`, as the owner;
/// the pages' bodies.
async fn follow_links(app: &TestApp, path: &str, key: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut next = Some(path.to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let page = app.call(Method::GET, &path, &Auth::Owner, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text());
        pages += 1;
        assert!(pages < 100, "the walk ends");
        let data = page.json()["data"].clone();
        items.extend(data[key].as_array().expect("items").iter().cloned());
        match (page.header("link"), data["next_cursor"].as_str()) {
            (Some(link), Some(cursor)) => {
                assert!(link.contains(&format!("cursor={cursor}")), "{link}");
                let target = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .expect("a target");
                next = Some(target.to_owned());
            }
            (None, None) => {}
            other => panic!("a Link exactly when a next_cursor: {other:?}"),
        }
    }
    (items, pages)
}

#[tokio::test]
async fn the_change_and_audit_logs_page_by_cursor_with_links_and_refuse_page_numbers() {
    let app = spawn_app().await;
    let start = app.call(Method::GET, "/changes", &Auth::Owner, None).await;
    let since = start.json()["data"]["next"]
        .as_str()
        .expect("a position")
        .to_owned();
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[group]).await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(app.seed_task(user.id, group, &format!("t{i}")).await);
    }
    // The change log, by `cursor` (`since` under the common name).
    let (changes, pages) = follow_links(
        &app,
        &format!("/changes?cursor={since}&limit=2&types=task"),
        "changes",
    )
    .await;
    let ids: Vec<u64> = changes
        .iter()
        .filter_map(|m| m["data"]["id"].as_u64())
        .collect();
    assert_eq!(ids, made);
    assert!(pages >= 3, "{pages} pages of 2");
    // The audit log, newest first.
    let (records, pages) = follow_links(&app, "/admin/audit?entity=task&limit=2", "records").await;
    assert_eq!(records.len(), made.len());
    assert!(pages >= 3, "{pages} pages of 2");

    for path in [
        "/changes?page=2".to_owned(),
        "/changes?skip=10".to_owned(),
        "/admin/audit?per_page=5".to_owned(),
        "/admin/audit?page=1".to_owned(),
    ] {
        let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
        let field = path.split(['?', '=']).nth(1).expect("a field");
        res.assert_invalid(field);
        assert!(res.text().contains("cursor"), "{}", res.text());
    }
    let res = app
        .call(
            Method::GET,
            &format!("/changes?since={since}&cursor={since}"),
            &Auth::Owner,
            None,
        )
        .await;
    res.assert_invalid("cursor");
}
