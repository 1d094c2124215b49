//! `Idempotency-Key` on task creates: a retry replays the first answer and
//! makes nothing, however many retries race; another request under the
//! same key is 422; keys belong to the principal that sent them.

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp, TestResponse, spawn_app};

async fn create(app: &TestApp, user: u64, auth: &Auth, key: &str, body: &Value) -> TestResponse {
    let mut headers: Vec<(&str, String)> = auth.header().into_iter().collect();
    headers.push(("content-type", "application/json".to_owned()));
    headers.push(("idempotency-key", key.to_owned()));
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.request(
        Method::POST,
        &format!("/users/{user}/tasks"),
        &headers,
        serde_json::to_vec(body).expect("json"),
    )
    .await
}

async fn count(app: &TestApp, user: u64) -> u64 {
    app.call(
        Method::GET,
        &format!("/users/{user}/tasks"),
        &Auth::Owner,
        None,
    )
    .await
    .json()["data"]["count"]
        .as_u64()
        .expect("count")
}

#[tokio::test]
async fn a_retried_create_replays_its_first_answer_and_makes_one_task() {
    let app = spawn_app().await;
    let (_, group, user) = app.seed_team().await;
    let body = json!({"title": "once", "group_id": group, "priority": 1});
    let first = create(&app, user.id, &user.auth(), "key-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    assert!(first.header("idempotent-replayed").is_none());
    let again = create(&app, user.id, &user.auth(), "key-1", &body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the first answer, byte for byte");
    assert_eq!(count(&app, user.id).await, 1);

    // Another request under the same key is refused, naming the header.
    let other = json!({"title": "twice", "group_id": group});
    create(&app, user.id, &user.auth(), "key-1", &other)
        .await
        .assert_invalid("Idempotency-Key");
    // Keys are the principal's own: the owner's "key-1" is another key.
    let owners = create(&app, user.id, &Auth::Owner, "key-1", &other).await;
    assert_eq!(owners.status, StatusCode::CREATED);
    assert!(owners.header("idempotent-replayed").is_none());
    assert_eq!(count(&app, user.id).await, 2);

    // Bad keys are 422, never stored.
    for bad in [&"k".repeat(256), "with space", "ünïcode"] {
        let res = create(&app, user.id, &user.auth(), bad, &body).await;
        if res.status != StatusCode::BAD_REQUEST {
            res.assert_invalid("Idempotency-Key");
        }
    }
    // A refused create records nothing: the same key works once it can.
    let bad_group = json!({"title": "nowhere", "group_id": 999_999});
    let refused = create(&app, user.id, &user.auth(), "key-2", &bad_group).await;
    assert!(refused.status.is_client_error(), "{}", refused.text());
    let fine = json!({"title": "somewhere", "group_id": group});
    let made = create(&app, user.id, &user.auth(), "key-2", &fine).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    assert!(made.header("idempotent-replayed").is_none());
    assert_eq!(count(&app, user.id).await, 3);
}

#[tokio::test]
async fn retries_racing_with_one_key_make_one_task_and_all_get_its_answer() {
    let app = spawn_app().await;
    let (_, group, user) = app.seed_team().await;
    // Warm the user's credential so the racers take the fast path too.
    let warm = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks", user.id),
            &user.auth(),
            None,
        )
        .await;
    assert_eq!(warm.status, StatusCode::OK);
    let body = json!({"title": "raced", "group_id": group});
    for round in 0..3 {
        let key = format!("race-{round}");
        let racers = (0..16).map(|i| {
            let auth = if i % 4 == 0 {
                Auth::Basic(user.email.clone(), user.password.clone())
            } else {
                user.auth()
            };
            let (app, key, body) = (&app, key.clone(), body.clone());
            async move { create(app, user.id, &auth, &key, &body).await }
        });
        let answers = join_all(racers).await;
        let ids: std::collections::BTreeSet<u64> = answers
            .iter()
            .map(|r| {
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
                r.json()["data"]["task"]["id"].as_u64().expect("id")
            })
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "round {round}: one task for every racer: {ids:?}"
        );
        let replayed = answers
            .iter()
            .filter(|r| r.header("idempotent-replayed") == Some("true"))
            .count();
        assert_eq!(replayed, 15, "round {round}");
    }
    assert_eq!(count(&app, user.id).await, 3);
}

#[tokio::test]
async fn user_and_group_creates_are_idempotent_too() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let owner = |key: &str, path: &str, body: &Value| {
        let headers = [
            (
                "x-owner-password",
                taskmaster_tests::OWNER_PASSWORD.to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
            ("idempotency-key", key.to_owned()),
        ];
        let (app, path, body) = (
            &app,
            path.to_owned(),
            serde_json::to_vec(body).expect("json"),
        );
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.request(Method::POST, &path, &headers, body).await
        }
    };
    let group = json!({"name": "Idempotent group", "admin_id": admin.id});
    let first = owner("g-1", "/groups", &group).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let again = owner("g-1", "/groups", &group).await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "a retry, not a name clash: {}",
        again.text()
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let gid = first.json()["data"]["group"]["id"].as_u64().expect("id");
    let user = json!({"full_name": "Ida Empotent", "email": "ida@example.com",
                      "password": "secret-pw-1", "group_ids": [gid]});
    let first = owner("u-1", "/users", &user).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let racers = join_all((0..6).map(|_| owner("u-1", "/users", &user))).await;
    for r in &racers {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.body, first.body);
    }
    let other = json!({"full_name": "Someone Else", "email": "else@example.com", "password": "secret-pw-2"});
    owner("u-1", "/users", &other)
        .await
        .assert_invalid("Idempotency-Key");
    // Without a key, the same user again is the email clash it is.
    let res = app
        .call(Method::POST, "/users", &Auth::Owner, Some(user))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
}
