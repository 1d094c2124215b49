//! Conditional requests: `ETag` on every `GET` answer, `If-None-Match` →
//! 304 while it holds, and `If-Match` on a task's writes → 412 once the
//! task changed, held in the write's own step (of many writers racing on
//! one tag, exactly one wins).

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, TestApp, spawn_app};

/// A GET with extra headers, as the owner.
async fn get(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> taskmaster_tests::TestResponse {
    let mut all: Vec<(&str, &str)> = vec![("x-owner-password", taskmaster_tests::OWNER_PASSWORD)];
    all.extend_from_slice(headers);
    app.request(Method::GET, path, &all, Vec::new()).await
}

/// A write with `If-Match`, as the owner.
async fn write(
    app: &TestApp,
    method: Method,
    path: &str,
    tag: &str,
    body: Option<serde_json::Value>,
) -> taskmaster_tests::TestResponse {
    let bytes = body
        .map(|b| serde_json::to_vec(&b).expect("json"))
        .unwrap_or_default();
    app.request(
        method,
        path,
        &[
            ("x-owner-password", taskmaster_tests::OWNER_PASSWORD),
            ("if-match", tag),
            ("content-type", "application/json"),
        ],
        bytes,
    )
    .await
}

#[tokio::test]
async fn every_get_is_tagged_and_an_unchanged_answer_is_304() {
    let app = spawn_app().await;
    let (admin, group, user) = app.seed_team().await;
    let tid = app.seed_task(user.id, group, "tagged").await;
    let paths = [
        format!("/users/{}/tasks/{tid}", user.id),
        format!("/users/{}/tasks", user.id),
        format!("/users/{}/tasks?limit=1", user.id),
        format!("/users/{}", user.id),
        format!("/groups/{group}"),
        format!("/groups/{group}/tasks?sort=-id&limit=5"),
        "/tasks/stats".to_owned(),
    ];
    for path in &paths {
        let first = get(&app, path, &[]).await;
        assert_eq!(first.status, StatusCode::OK, "{path}");
        let tag = first.header("etag").expect("tagged").to_owned();
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        let again = get(&app, path, &[]).await;
        assert_eq!(
            again.header("etag"),
            Some(tag.as_str()),
            "{path}: a stable tag"
        );
        let held = get(&app, path, &[("if-none-match", &tag)]).await;
        assert_eq!(held.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(held.body.is_empty());
        assert_eq!(held.header("etag"), Some(tag.as_str()));
        let weak = format!("\"0000000000000000\", W/{tag}");
        let held = get(&app, path, &[("if-none-match", &weak)]).await;
        assert_eq!(
            held.status,
            StatusCode::NOT_MODIFIED,
            "{path}: a list, weakly"
        );
        let other = get(&app, path, &[("if-none-match", "\"0000000000000000\"")]).await;
        assert_eq!(other.status, StatusCode::OK, "{path}");
    }
    // A change gives every answer that shows it a new tag.
    let before = get(&app, &paths[0], &[])
        .await
        .header("etag")
        .map(str::to_owned);
    let res = app
        .call(
            Method::PUT,
            &paths[0],
            &admin.auth(),
            Some(json!({"title": "retitled"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let tag = before.expect("tag");
    let after = get(&app, &paths[0], &[("if-none-match", &tag)]).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.header("etag"), Some(tag.as_str()));
}

#[tokio::test]
async fn if_match_writes_only_the_task_that_was_read_and_one_racer_wins() {
    let app = spawn_app().await;
    let (_, group, user) = app.seed_team().await;
    let tid = app.seed_task(user.id, group, "contested").await;
    let path = format!("/users/{}/tasks/{tid}", user.id);
    let tag = get(&app, &path, &[])
        .await
        .header("etag")
        .expect("tag")
        .to_owned();

    // A stale tag changes nothing.
    let stale = write(
        &app,
        Method::PUT,
        &path,
        "\"0000000000000000\"",
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.text()
    );
    assert_eq!(
        app.task(user.id, tid, &Auth::Owner).await["title"],
        "contested"
    );

    // Eight writers with the same tag: one wins, seven are told 412.
    let racers = (0..8).map(|i| {
        let (app, path, tag) = (&app, path.clone(), tag.clone());
        async move {
            write(
                app,
                Method::PUT,
                &path,
                &tag,
                Some(json!({"title": format!("racer {i}")})),
            )
            .await
            .status
        }
    });
    let statuses = join_all(racers).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let lost = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((won, lost), (1, 7), "{statuses:?}");

    // The winner's answer is the new tag; done and delete take it too.
    let tag = get(&app, &path, &[])
        .await
        .header("etag")
        .expect("tag")
        .to_owned();
    let done = write(&app, Method::PUT, &format!("{path}/done"), &tag, None).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let gone = write(&app, Method::DELETE, &path, &tag, None).await;
    assert_eq!(
        gone.status,
        StatusCode::PRECONDITION_FAILED,
        "the done changed it"
    );
    let tag = get(&app, &path, &[])
        .await
        .header("etag")
        .expect("tag")
        .to_owned();
    let gone = write(&app, Method::DELETE, &path, &tag, None).await;
    assert_eq!(gone.status, StatusCode::OK);
    // A task that is gone, or never was, is 404 whatever the tag.
    let missing = write(&app, Method::DELETE, &path, &tag, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn if_match_holds_users_and_groups_to_what_was_read() {
    let app = spawn_app().await;
    let (_, group, user) = app.seed_team().await;
    // Racers on one tag of a user: one wins (the script holds the row).
    let path = format!("/users/{}", user.id);
    let tag = get(&app, &path, &[])
        .await
        .header("etag")
        .expect("tag")
        .to_owned();
    let racers = (0..8).map(|i| {
        let (app, path, tag) = (&app, path.clone(), tag.clone());
        async move {
            write(
                app,
                Method::PUT,
                &path,
                &tag,
                Some(json!({"number": format!("N-{i}")})),
            )
            .await
            .status
        }
    });
    let statuses = join_all(racers).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(won, 1, "{statuses:?}");
    for path in [format!("/users/{}", user.id), format!("/groups/{group}")] {
        let tag = get(&app, &path, &[])
            .await
            .header("etag")
            .expect("tag")
            .to_owned();
        let body = if path.starts_with("/users") {
            json!({"full_name": "Renamed Person"})
        } else {
            json!({"name": format!("Renamed {group}")})
        };
        let stale = write(
            &app,
            Method::PUT,
            &path,
            "\"0000000000000000\"",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            stale.status,
            StatusCode::PRECONDITION_FAILED,
            "{path}: {}",
            stale.text()
        );
        let done = write(&app, Method::PUT, &path, &tag, Some(body.clone())).await;
        assert_eq!(done.status, StatusCode::OK, "{path}: {}", done.text());
        // The tag it was done under is stale now: a delete under it is refused.
        let late = write(&app, Method::DELETE, &path, &tag, None).await;
        assert_eq!(late.status, StatusCode::PRECONDITION_FAILED, "{path}");
    }
    // Under the current tags, both go.
    let path = format!("/users/{}", user.id);
    let tag = get(&app, &path, &[])
        .await
        .header("etag")
        .expect("tag")
        .to_owned();
    assert_eq!(
        write(&app, Method::DELETE, &path, &tag, None).await.status,
        StatusCode::OK
    );
    let path = format!("/groups/{group}");
    let tag = get(&app, &path, &[])
        .await
        .header("etag")
        .expect("tag")
        .to_owned();
    assert_eq!(
        write(&app, Method::DELETE, &path, &tag, None).await.status,
        StatusCode::OK
    );
}
