//! First pages of a user's task list kept under its task-list version
//! (`api/src/lists.rs`): a repeat answers the same bytes and headers, and
//! any write to the user's tasks shows at once.

use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, TestApp, TestResponse, spawn_app};

async fn page(app: &TestApp, path: &str, auth: &Auth) -> TestResponse {
    let res = app.call(Method::GET, path, auth, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res
}

fn titles(res: &TestResponse) -> Vec<String> {
    res.json()["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_kept_first_page_is_the_same_answer_and_never_outlives_a_write_to_the_list() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let other = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[group, other]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let res = app
            .call(
                Method::POST,
                &format!("/users/{}/tasks", user.id),
                &user.auth(),
                Some(json!({"title": format!("t{i}"), "group_id": group, "priority": 1 + i % 3})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        ids.push(res.json()["data"]["task"]["id"].as_u64().expect("id"));
    }
    let path = format!("/users/{}/tasks?limit=2&sort=-priority", user.id);
    for auth in [user.auth(), Auth::Owner] {
        let first = page(&app, &path, &auth).await;
        let again = page(&app, &path, &auth).await;
        assert_eq!(again.text(), first.text());
        for header in ["x-total-count", "link", "etag"] {
            assert_eq!(again.header(header), first.header(header), "{header}");
        }
        assert_eq!(first.header("x-total-count"), Some("5"));
        assert!(first.header("link").is_some());
    }
    // Ties go by id in the order's direction.
    assert_eq!(titles(&page(&app, &path, &user.auth()).await), ["t2", "t4"]);

    // Each write to the user's tasks shows in the very next first page,
    // whoever makes it.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{}", user.id, ids[0]),
            &admin.auth(),
            Some(json!({"priority": 3, "title": "raised"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        titles(&page(&app, &path, &user.auth()).await),
        ["t2", "raised"]
    );
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", user.id),
            &Auth::Owner,
            Some(json!({"title": "new", "group_id": other, "priority": 3})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let after = page(&app, &path, &user.auth()).await;
    assert_eq!(after.header("x-total-count"), Some("6"));
    assert_eq!(titles(&after), ["new", "t2"]);
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}/tasks/{}", user.id, ids[2]),
            &user.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        titles(&page(&app, &path, &user.auth()).await),
        ["new", "raised"]
    );
    // Leaving a group moves the user's tasks: the page shows it.
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{other}/users/{}", user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert!(res.status.is_success(), "{}", res.text());
    let moved = page(
        &app,
        &format!("/users/{}/tasks?limit=10&group_id={other}", user.id),
        &user.auth(),
    )
    .await;
    assert!(titles(&moved).is_empty());

    // A group admin sees only what its groups hold: never another
    // caller's kept page.
    let path = format!("/users/{}/tasks?limit=10", user.id);
    let mine = page(&app, &path, &user.auth()).await;
    let theirs = page(&app, &path, &admin.auth()).await;
    assert_eq!(titles(&theirs), titles(&mine));
}
