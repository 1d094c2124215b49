//! Deleting a user or a group with many tasks goes in steps of a few
//! hundred tasks (`lua/delete_user.lua`, `lua/delete_group.lua`): every
//! task goes, each as a single delete would (dirty mark, change log), no
//! step holds Redis for long (30 ms of wall time, where the group's delete
//! in one step takes ~100 ms), and a stale `If-Match` deletes nothing.

use hyper::{Method, StatusCode};
use taskmaster_tests::{Auth, TestApp, bulk, spawn_app};

/// A Redis count (`SCARD`, `XLEN`, `EXISTS`…) of `key`.
pub(crate) async fn count(app: &TestApp, cmd: &str, key: &str) -> u64 {
    redis::cmd(cmd)
        .arg(key)
        .query_async(&mut app.redis().await)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_user_and_a_group_with_many_tasks_are_deleted_in_short_steps() {
    let app = spawn_app().await;
    let (_admin, g1, g2, user) = crate::stepped_writes::two_groups_and_a_member(&app).await;
    let mut redis = app.redis().await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, g1, 4_500).await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, g2, 700).await;
    let dirty = format!("{}dirty:tasks", app.keys.prefix());
    let logged = count(&app, "XLEN", &format!("{}changes", app.keys.prefix())).await;

    // A stale If-Match refuses before any step.
    let res = app
        .request(
            Method::DELETE,
            &format!("/groups/{g1}"),
            &[
                ("x-owner-password", taskmaster_tests::OWNER_PASSWORD),
                ("if-match", "\"0000000000000000\""),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        res.text()
    );
    assert_eq!(count(&app, "SCARD", &app.keys.group_tasks(g1)).await, 4_500);

    // A step of 200 tasks takes about 2 ms of Redis; the group's 4,500
    // tasks in one step take about 100 ms (measured).
    app.watch_slow_log(30).await;

    let res = app
        .call(Method::DELETE, &format!("/groups/{g1}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["deleted_tasks"], 4_500);
    assert_eq!(count(&app, "SCARD", &app.keys.group_tasks(g1)).await, 0);
    assert_eq!(
        count(&app, "SCARD", &app.keys.user_tasks(user.id)).await,
        700
    );
    assert_eq!(
        count(&app, "SCARD", &dirty).await,
        4_500,
        "each task is dirty"
    );

    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}", user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        count(&app, "EXISTS", &app.keys.user_tasks(user.id)).await,
        0
    );
    assert_eq!(count(&app, "SCARD", &app.keys.group_tasks(g2)).await, 0);
    assert_eq!(count(&app, "SCARD", &dirty).await, 5_200);
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}", user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // One change log entry per task, then the group's, the member's and
    // the user's own.
    let now_logged = count(&app, "XLEN", &format!("{}changes", app.keys.prefix())).await;
    assert!(
        now_logged >= logged + 5_200 + 2,
        "{logged} then {now_logged}"
    );
    let slow = app.slow_log().await;
    assert!(slow.is_empty(), "Redis was held 30 ms or more: {slow:?}");
}
