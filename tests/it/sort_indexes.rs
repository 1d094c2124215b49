//! The indexes of the orders other than the id's (`P user:{id}:order:{p,d,u}`,
//! the same for groups; see `taskmaster_shared::order`): none until a list
//! is first read in that order, exact from then on whatever the writes,
//! a large one built in the background while writes go on, and data of the
//! layout that kept every order in the id indexes cleaned at the next
//! start.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_shared::model::Task;
use taskmaster_shared::order::{self, SortKey};
use taskmaster_tests::{Auth, TestApp, bulk, spawn_app};

/// The members an index of `key` over these task ids must hold: computed
/// here from the rows as stored.
async fn expected(app: &TestApp, ids_key: &str, key: SortKey) -> BTreeSet<String> {
    let mut redis = app.redis().await;
    let ids: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(ids_key)
        .query_async(&mut redis)
        .await
        .expect("smembers");
    let mut out = BTreeSet::new();
    for chunk in ids.chunks(1000) {
        let rows: Vec<Vec<u8>> = redis::cmd("MGET")
            .arg(
                chunk
                    .iter()
                    .map(|id| app.keys.row(taskmaster_shared::keys::RowType::Task, *id))
                    .collect::<Vec<_>>(),
            )
            .query_async(&mut redis)
            .await
            .expect("mget");
        for row in rows {
            let task = Task::from_json(&row).expect("a task row");
            out.insert(order::member(key, &task));
        }
    }
    out
}

async fn members(app: &TestApp, key: &str) -> BTreeSet<String> {
    let list: Vec<String> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut app.redis().await)
        .await
        .expect("zrange");
    list.into_iter().collect()
}

async fn exists(app: &TestApp, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<u64>(&mut app.redis().await)
        .await
        .expect("exists")
        == 1
}

async fn create(app: &TestApp, user: u64, group: u64, priority: u8, deadline: &str) -> u64 {
    let res = app
        .call(
            Method::POST,
            &format!("/users/{user}/tasks"),
            &Auth::Owner,
            Some(json!({"title": "t", "group_id": group, "priority": priority, "deadline": deadline})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    res.json()["data"]["task"]["id"].as_u64().expect("id")
}

async fn update(app: &TestApp, user: u64, task: u64, body: serde_json::Value) {
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{user}/tasks/{task}"),
            &Auth::Owner,
            Some(body),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

#[tokio::test]
async fn an_order_is_indexed_from_its_first_read_on_and_every_write_keeps_it_exact() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(admin.id).await;
    let g2 = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[g1, g2]).await;
    let mut made = Vec::new();
    for i in 0..12u8 {
        let deadline = if i % 4 == 0 {
            String::new()
        } else {
            format!("2027-01-{:02}", 1 + i)
        };
        made.push(create(&app, user.id, g1, 1 + i % 3, &deadline).await);
    }
    let (by_deadline, by_priority) = (
        app.keys.user_sort(user.id, 'd'),
        app.keys.group_sort(g1, 'p'),
    );
    // Nobody read these lists in another order yet: writes kept none.
    for key in [
        by_deadline.clone(),
        by_priority.clone(),
        app.keys.user_sorts(user.id),
        app.keys.group_sorts(g1),
    ] {
        assert!(!exists(&app, &key).await, "{key} before any read");
    }

    // The first reads in those orders build them, and answer in order.
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks?limit=5&sort=deadline", user.id),
            &user.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let deadlines: Vec<String> = res.json()["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["deadline"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        deadlines,
        [
            "2027-01-02",
            "2027-01-03",
            "2027-01-04",
            "2027-01-06",
            "2027-01-07"
        ]
    );
    let res = app
        .call(
            Method::GET,
            &format!("/groups/{g1}/tasks?limit=5&sort=-priority"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let ready: Option<String> = redis::cmd("HGET")
        .arg(app.keys.user_sorts(user.id))
        .arg("d")
        .query_async(&mut app.redis().await)
        .await
        .expect("hget");
    assert_eq!(ready.as_deref(), Some("ready"));
    // Only the orders read were built.
    assert!(!exists(&app, &app.keys.user_sort(user.id, 'p')).await);
    assert!(!exists(&app, &app.keys.group_sort(g1, 'd')).await);

    let check = |when: &'static str| {
        let app = &app;
        let (by_deadline, by_priority) = (&by_deadline, &by_priority);
        async move {
            assert_eq!(
                members(app, by_deadline).await,
                expected(app, &app.keys.user_tasks(user.id), SortKey::Deadline).await,
                "the user's deadline index {when}"
            );
            assert_eq!(
                members(app, by_priority).await,
                expected(app, &app.keys.group_tasks(g1), SortKey::Priority).await,
                "the group's priority index {when}"
            );
        }
    };
    check("once built").await;
    made.push(create(&app, user.id, g1, 3, "2026-12-31").await);
    check("after a create").await;
    update(
        &app,
        user.id,
        made[1],
        json!({"deadline": "2028-02-02", "priority": 3}),
    )
    .await;
    check("after a change of deadline and priority").await;
    update(&app, user.id, made[2], json!({"group_id": g2})).await;
    check("after a move to another group").await;
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{}/done", user.id, made[3]),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check("after a task is done").await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}/tasks/{}", user.id, made[4]),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check("after a delete").await;
    // Leaving the group moves the user's tasks to the other one.
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g1}/users/{}", user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert!(res.status.is_success(), "{}", res.text());
    check("after the user left the group").await;
    assert!(
        members(&app, &by_priority).await.is_empty(),
        "the group holds none of the user's tasks"
    );

    // A deleted user takes its indexes along.
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}", user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert!(res.status.is_success(), "{}", res.text());
    for key in [by_deadline, app.keys.user_sorts(user.id)] {
        assert!(!exists(&app, &key).await, "{key} after the user went");
    }
}

#[tokio::test]
async fn a_large_list_is_sorted_in_the_background_while_writes_go_on() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[group]).await;
    let first = bulk::seed_tasks(&mut app.redis().await, &app.keys, user.id, group, 20_000).await;
    let path = format!("/users/{}/tasks?limit=20&sort=-updated_at", user.id);
    let res = app.call(Method::GET, &path, &user.auth(), None).await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    assert!(res.text().contains("being built"), "{}", res.text());
    // Writes while the build runs: creates, changes of seeded tasks (their
    // update time moves them in this order), deletes.
    let started = Instant::now();
    let mut writes = 0u64;
    loop {
        create(&app, user.id, group, 2, "2027-03-03").await;
        update(
            &app,
            user.id,
            first + writes * 7,
            json!({"title": "changed"}),
        )
        .await;
        let res = app
            .call(
                Method::DELETE,
                &format!("/users/{}/tasks/{}", user.id, first + writes * 7 + 3),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        writes += 1;
        let res = app.call(Method::GET, &path, &user.auth(), None).await;
        if res.status == StatusCode::OK {
            let tasks = res.json()["data"]["tasks"]
                .as_array()
                .expect("tasks")
                .clone();
            assert_eq!(tasks.len(), 20);
            assert_eq!(tasks[0]["title"], "changed", "the latest change first");
            break;
        }
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            res.text()
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "still building"
        );
    }
    eprintln!(
        "20,000 tasks sorted in {:?}, {writes} rounds of writes meanwhile",
        started.elapsed()
    );
    assert_eq!(
        members(&app, &app.keys.user_sort(user.id, 'u')).await,
        expected(&app, &app.keys.user_tasks(user.id), SortKey::UpdatedAt).await,
        "the index holds every task as it is now, and nothing else"
    );
}

#[tokio::test]
async fn indexes_of_earlier_layouts_are_retired_at_the_next_start_and_lists_stay_right() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let (kept, old) = (
        app.seed_user("user", &[group]).await,
        app.seed_user("user", &[group]).await,
    );
    for i in 0..5u8 {
        create(&app, kept.id, group, 1 + i % 3, "2027-01-05").await;
        create(&app, old.id, group, 1 + i % 3, "2027-01-06").await;
    }
    // One user's lists were read since the upgrade: its indexes are kept.
    for sort in ["id", "deadline"] {
        let path = format!("/users/{}/tasks?limit=2&sort={sort}", kept.id);
        let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    // The other's as the earlier layouts left them: every order's members
    // in its id index, and the index of every task.
    let (legacy, by_id) = plant_earlier_layout(&app, old.id).await;
    let mut redis = app.redis().await;
    let everything = format!("{}tasks:order", app.keys.prefix());
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(&everything);
    for m in &by_id {
        zadd.arg(0).arg(m);
    }
    zadd.query_async::<()>(&mut redis).await.expect("zadd");
    redis::cmd("SET")
        .arg(app.keys.order_built())
        .arg(1)
        .query_async::<()>(&mut redis)
        .await
        .expect("set");

    let restarted = app.restart_same_prefix().await;
    let started = Instant::now();
    loop {
        let layout: Option<String> = redis::cmd("GET")
            .arg(app.keys.order_built())
            .query_async(&mut redis)
            .await
            .expect("get");
        if layout.as_deref() == Some(order::LAYOUT) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not retired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !exists(&app, &legacy).await,
        "an index nobody keeps is gone"
    );
    assert!(
        !exists(&app, &everything).await,
        "the index of every task is gone"
    );
    assert_eq!(
        members(&app, &app.keys.user_sort(kept.id, 'd')).await,
        expected(&app, &app.keys.user_tasks(kept.id), SortKey::Deadline).await,
        "a kept index stays"
    );
    // A page of the other user's list builds its index anew, right.
    assert_eq!(
        second_page_of_three(&restarted, old.id).await,
        ids_of(&by_id)[1..4]
    );
    assert_eq!(members(&app, &legacy).await, by_id);
}

/// User `user`'s id index as the earlier layouts left it, every order's
/// members in it: its key and the members it should hold.
async fn plant_earlier_layout(app: &TestApp, user: u64) -> (String, BTreeSet<String>) {
    let by_id = expected(app, &app.keys.user_tasks(user), SortKey::Id).await;
    let mut redis = app.redis().await;
    let legacy = app.keys.user_order(user);
    for sort in SortKey::ALL {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(&legacy);
        for m in expected(app, &app.keys.user_tasks(user), sort).await {
            zadd.arg(0).arg(m);
        }
        zadd.query_async::<()>(&mut redis).await.expect("zadd");
    }
    (legacy, by_id)
}

/// The ids of `GET /users/{user}/tasks?limit=3&skip=1`, as the owner.
async fn second_page_of_three(app: &TestApp, user: u64) -> Vec<u64> {
    let path = format!("/users/{user}/tasks?limit=3&skip=1");
    let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect()
}

fn ids_of(members: &BTreeSet<String>) -> Vec<u64> {
    members
        .iter()
        .filter_map(|m| order::member_id(m.as_bytes()))
        .collect()
}

#[tokio::test]
async fn a_list_read_before_the_retirement_builds_its_index_anew_without_the_earlier_layouts() {
    // The retirement runs at a start; a list may be read before it does
    // (an api of the new version next to one of the old, or the read
    // coming first): its first build drops what the earlier layout left.
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    for i in 0..5u8 {
        create(&app, user.id, group, 1 + i % 3, "2027-01-05").await;
    }
    let (legacy, by_id) = plant_earlier_layout(&app, user.id).await;
    assert_eq!(
        second_page_of_three(&app, user.id).await,
        ids_of(&by_id)[1..4]
    );
    assert_eq!(members(&app, &legacy).await, by_id);
}
