//! Task quotas (`MAX_TASKS_PER_USER`, `MAX_TASKS_PER_GROUP`): held in the
//! write scripts, so that parallel creates never pass them, and a move
//! into a full group is refused as a whole.

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, TestApp, shared, spawn_app_with};

async fn create(app: &TestApp, user: u64, group: u64) -> (StatusCode, String) {
    let res = app
        .call(
            Method::POST,
            &format!("/users/{user}/tasks"),
            &Auth::Owner,
            Some(json!({"title": "t", "group_id": group})),
        )
        .await;
    (res.status, res.text())
}

#[tokio::test]
async fn creates_and_moves_stop_at_the_quotas_even_in_parallel_bursts() {
    let port = shared().await.redis.port;
    let app = spawn_app_with(
        port,
        &[("MAX_TASKS_PER_USER", "5"), ("MAX_TASKS_PER_GROUP", "8")],
    )
    .await;
    let admin = app.seed_user("group_admin", &[]).await;
    let (g, h) = (
        app.seed_group(admin.id).await,
        app.seed_group(admin.id).await,
    );
    let ann = app.seed_user("user", &[g, h]).await;
    let bob = app.seed_user("user", &[g]).await;

    // The user quota: 5 of Ann's, the 6th refused, naming the setting.
    for _ in 0..5 {
        assert_eq!(create(&app, ann.id, g).await.0, StatusCode::CREATED);
    }
    let (status, text) = create(&app, ann.id, h).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("MAX_TASKS_PER_USER"), "{text}");

    // The group quota: Bob fills group g to 8.
    for _ in 0..3 {
        assert_eq!(create(&app, bob.id, g).await.0, StatusCode::CREATED);
    }
    let (status, text) = create(&app, bob.id, g).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("MAX_TASKS_PER_GROUP"), "{text}");

    // A burst of 20 parallel creates for a user with room for 5.
    let cid = app.seed_user("user", &[h]).await.id;
    let results = join_all((0..20).map(|_| create(&app, cid, h))).await;
    let made = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((made, refused), (5, 15), "{results:?}");
    let res = app
        .call(
            Method::GET,
            &format!("/users/{cid}/tasks"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.json()["data"]["count"], 5);

    // Moving tasks into the full group g is refused as a whole.
    let ids: Vec<u64> = app
        .call(
            Method::GET,
            &format!("/users/{cid}/tasks"),
            &Auth::Owner,
            None,
        )
        .await
        .json()["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect();
    app.seed_member(g, cid).await;
    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &Auth::Owner,
            Some(json!({"task_ids": ids, "action": "update", "updates": {"group_id": g}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text());
    let res = app
        .call(
            Method::GET,
            &format!("/groups/{g}/tasks"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.json()["data"]["count"], 8, "nothing moved");

    // Room again once a task goes.
    let first = ids[0];
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{cid}/tasks/{first}"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(create(&app, cid, h).await.0, StatusCode::CREATED);
}
