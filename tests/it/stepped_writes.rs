//! A member's removal (by its group, or by a `PUT` of the user's groups)
//! and a group-wide label rename that touch thousands of tasks run in
//! steps of at most 100 tasks (`leave_step` in `lua/leave.lua`,
//! `lua/rename_label.lua`): every task ends where one step would have put
//! it, dirty and logged, and no step holds Redis for 30 ms (4,500 tasks in
//! one step take ~100 ms, measured). A leave that an api left midway, or
//! that a restore found half done, is finished by the api.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, Seeded, TestApp, bulk, eventually, spawn_app};

use crate::big_deletes::count;
use crate::restore::{admin_sync, backup_dir, syncd_for};

/// A group admin, two groups of it, and a plain user in both.
pub(crate) async fn two_groups_and_a_member(app: &TestApp) -> (Seeded, u64, u64, Seeded) {
    let admin = app.seed_user("group_admin", &[]).await;
    let (g1, g2) = (
        app.seed_group(admin.id).await,
        app.seed_group(admin.id).await,
    );
    let user = app.seed_user("user", &[g1, g2]).await;
    (admin, g1, g2, user)
}

/// The group of each of the user's tasks, counted.
async fn groups_of_tasks(app: &TestApp, user: u64) -> std::collections::BTreeMap<u64, u64> {
    let mut redis = app.redis().await;
    let ids: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(app.keys.user_tasks(user))
        .query_async(&mut redis)
        .await
        .expect("ids");
    let mut out = std::collections::BTreeMap::new();
    for chunk in ids.chunks(500) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|id| app.keys.row(taskmaster_shared::keys::RowType::Task, *id))
            .collect();
        let rows: Vec<String> = redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut redis)
            .await
            .expect("rows");
        for row in rows {
            let t: serde_json::Value = serde_json::from_str(&row).expect("json");
            *out.entry(t["group_id"].as_u64().expect("group"))
                .or_default() += 1;
        }
    }
    out
}

#[tokio::test]
async fn removing_a_member_with_thousands_of_tasks_moves_them_in_short_steps() {
    let app = spawn_app().await;
    let (admin, g1, g2, user) = two_groups_and_a_member(&app).await;
    let mut redis = app.redis().await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, g1, 4_500).await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, g2, 10).await;
    // Another member's tasks stay where they are.
    let other = app.seed_user("user", &[g1]).await;
    bulk::seed_tasks(&mut redis, &app.keys, other.id, g1, 300).await;
    let logged = count(&app, "XLEN", &format!("{}changes", app.keys.prefix())).await;
    app.watch_slow_log(30).await;

    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g1}/users/{}", user.id),
            &admin.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["affected_tasks"], 4_500);
    assert_eq!(
        groups_of_tasks(&app, user.id).await,
        [(g2, 4_510)].into(),
        "every task moved to the user's remaining group"
    );
    assert_eq!(count(&app, "SCARD", &app.keys.group_tasks(g1)).await, 300);
    assert_eq!(count(&app, "SCARD", &app.keys.group_tasks(g2)).await, 4_510);
    assert_eq!(count(&app, "EXISTS", &app.keys.leaving()).await, 0);
    let dirty = format!("{}dirty:tasks", app.keys.prefix());
    assert_eq!(
        count(&app, "SCARD", &dirty).await,
        4_500,
        "each moved task is dirty"
    );
    let now_logged = count(&app, "XLEN", &format!("{}changes", app.keys.prefix())).await;
    assert!(now_logged > logged + 4_500, "{logged} then {now_logged}");
    let slow = app.slow_log().await;
    assert!(slow.is_empty(), "Redis was held 30 ms or more: {slow:?}");

    // Out of its last group, a member's tasks go.
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g2}/users/{}", user.id),
            &admin.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["affected_tasks"], 4_510);
    assert_eq!(count(&app, "SCARD", &app.keys.user_tasks(user.id)).await, 0);
    assert_eq!(count(&app, "SCARD", &app.keys.group_tasks(g2)).await, 0);
    let slow = app.slow_log().await;
    assert!(slow.is_empty(), "Redis was held 30 ms or more: {slow:?}");
}

#[tokio::test]
async fn a_users_put_that_drops_groups_moves_thousands_of_tasks_in_short_steps() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let (g1, g2, g3) = (
        app.seed_group(admin.id).await,
        app.seed_group(admin.id).await,
        app.seed_group(admin.id).await,
    );
    let user = app.seed_user("user", &[g1, g2]).await;
    let mut redis = app.redis().await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, g1, 4_500).await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, g2, 300).await;
    app.watch_slow_log(30).await;

    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", user.id),
            &Auth::Owner,
            Some(json!({"group_ids": [g3]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // Into the group it joins, never through one it leaves.
    assert_eq!(groups_of_tasks(&app, user.id).await, [(g3, 4_800)].into());
    for (g, n) in [(g1, 0), (g2, 0), (g3, 4_800)] {
        assert_eq!(
            count(&app, "SCARD", &app.keys.group_tasks(g)).await,
            n,
            "group {g}"
        );
    }
    assert_eq!(count(&app, "EXISTS", &app.keys.leaving()).await, 0);
    let slow = app.slow_log().await;
    assert!(slow.is_empty(), "Redis was held 30 ms or more: {slow:?}");
}

#[tokio::test]
async fn renaming_a_label_on_thousands_of_tasks_goes_in_short_steps() {
    let app = spawn_app().await;
    let (admin, group, user) = app.seed_team().await;
    let mut redis = app.redis().await;
    let first =
        bulk::seed_labelled_tasks(&mut redis, &app.keys, user.id, group, 4_500, Some("old")).await;
    app.watch_slow_log(30).await;

    let res = app
        .call(
            Method::POST,
            &format!("/groups/{group}/labels/rename"),
            &admin.auth(),
            Some(json!({"from": "old", "to": "new"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["renamed_tasks"], 4_500);
    let res = app
        .call(
            Method::GET,
            &format!("/groups/{group}/labels"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(
        res.json()["data"]["labels"],
        json!([{"name": "new", "count": 4_500}])
    );
    let t = app.task(user.id, first + 4_499, &Auth::Owner).await;
    assert_eq!(t["labels"], json!(["new"]));
    let slow = app.slow_log().await;
    assert!(slow.is_empty(), "Redis was held 30 ms or more: {slow:?}");
}

#[tokio::test]
async fn a_leave_an_api_left_midway_is_finished_by_the_api() {
    let app = spawn_app().await;
    let (_admin, g1, g2, user) = two_groups_and_a_member(&app).await;
    let mut redis = app.redis().await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, g1, 700).await;
    // What a removal's first step leaves when its api stops: the
    // membership gone, the record of the leave, the tasks still in g1.
    let mut pipe = redis::pipe();
    pipe.cmd("SREM")
        .arg(app.keys.user_groups(user.id))
        .arg(g1)
        .ignore();
    pipe.cmd("SREM")
        .arg(app.keys.group_members(g1))
        .arg(user.id)
        .ignore();
    pipe.cmd("HSET")
        .arg(app.keys.leaving())
        .arg(format!("{}:{g1}", user.id))
        .arg("u 0 0")
        .ignore();
    pipe.query_async::<()>(&mut redis)
        .await
        .expect("half a leave");

    let finished = eventually(Duration::from_secs(30), || async {
        (count(&app, "EXISTS", &app.keys.leaving()).await == 0).then_some(())
    })
    .await;
    assert!(finished.is_some(), "the leave was never finished");
    assert_eq!(groups_of_tasks(&app, user.id).await, [(g2, 700)].into());
    assert_eq!(count(&app, "SCARD", &app.keys.group_tasks(g1)).await, 0);
}

#[tokio::test]
async fn a_restore_finishes_a_leave_that_a_flush_caught_midway() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, pg) = syncd_for(&app, &dir).await;
    let (_admin, g1, g2, user) = two_groups_and_a_member(&app).await;
    let tasks = [
        app.seed_task(user.id, g1, "a").await,
        app.seed_task(user.id, g1, "b").await,
        app.seed_task(user.id, g2, "c").await,
    ];
    assert_eq!(
        admin_sync(&app, "action=force").await.status,
        StatusCode::OK
    );
    // A flush between a removal's first step and its last: the membership
    // is gone from PostgreSQL, the tasks are not moved yet.
    let gone = pg
        .execute(
            "DELETE FROM user_groups WHERE user_id = $1 AND group_id = $2",
            &[&(user.id as i64), &(g1 as i64)],
        )
        .await
        .expect("membership deleted");
    assert_eq!(gone, 1);

    let res = admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        res.json()["data"]["loaded"]["unfinished_leaves"],
        1,
        "{}",
        res.text()
    );
    let finished = eventually(Duration::from_secs(30), || async {
        (count(&app, "EXISTS", &app.keys.leaving()).await == 0).then_some(())
    })
    .await;
    assert!(finished.is_some(), "the leave was never finished");
    for tid in tasks {
        let t = app.task(user.id, tid, &Auth::Owner).await;
        assert_eq!(t["group_id"], g2, "{t}");
    }
    // And the move is written behind like any other.
    assert_eq!(
        admin_sync(&app, "action=force").await.status,
        StatusCode::OK
    );
    let outside: i64 = pg
        .query_one(
            "SELECT count(*) FROM tasks WHERE user_id = $1 AND group_id = $2",
            &[&(user.id as i64), &(g1 as i64)],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(outside, 0);
}
