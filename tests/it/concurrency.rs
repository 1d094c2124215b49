use std::collections::BTreeSet;

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_concurrent_creates_with_the_same_email_wins() {
    let app = spawn_app().await;
    let attempts = (0..24).map(|i| {
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        app.call(
            Method::POST,
            "/users",
            &Auth::Owner,
            Some(json!({"full_name": format!("Racer {i}"), "email": email, "password": "secret1"})),
        )
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    let wins = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((wins, conflicts), (1, 23), "{statuses:?}");
    let found = app
        .call(Method::GET, "/users/search?q=race@", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(found["data"]["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_concurrent_creates_with_the_same_group_name_wins() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let attempts = (0..16).map(|_| {
        app.call(
            Method::POST,
            "/groups",
            &Auth::Owner,
            Some(json!({"name": "Same Name", "admin_id": admin.id})),
        )
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_fields_of_one_task_both_survive() {
    let app = spawn_app().await;
    let (admin, g, u) = app.seed_team().await;
    let tid = app.seed_task(u.id, g, "start").await;
    let path = format!("/users/{}/tasks/{tid}", u.id);
    let (user_auth, admin_auth) = (u.auth(), admin.auth());
    for round in 0..15 {
        let priority = round % 3 + 1;
        let title = format!("title {round}");
        let info = format!("info {round}");
        let (a, b, c) = tokio::join!(
            app.call(
                Method::PUT,
                &path,
                &user_auth,
                Some(json!({"title": title}))
            ),
            app.call(
                Method::PUT,
                &path,
                &admin_auth,
                Some(json!({"priority": priority}))
            ),
            app.call(
                Method::PUT,
                &path,
                &Auth::Owner,
                Some(json!({"information": info}))
            ),
        );
        assert!(
            [a.status, b.status, c.status]
                .iter()
                .all(|s| *s == StatusCode::OK)
        );
        let t = app
            .call(Method::GET, &path, &Auth::Owner, None)
            .await
            .json();
        assert_eq!(t["data"]["title"], title);
        assert_eq!(t["data"]["priority"], priority);
        assert_eq!(t["data"]["information"], info);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_users_creating_tasks_at_once_get_exact_counts_and_unique_ids() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    let mut users = Vec::new();
    for _ in 0..8 {
        users.push(app.seed_user("user", &[g]).await);
    }
    const PER_USER: usize = 25;
    let creates = users
        .iter()
        .flat_map(|u| (0..PER_USER).map(move |i| (u, i)))
        .map(|(u, i)| {
            let app = &app;
            async move {
                let auth = u.auth();
                let res = app
                    .call(
                        Method::POST,
                        &format!("/users/{}/tasks", u.id),
                        &auth,
                        Some(json!({"title": format!("t{i}"), "group_id": g})),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
                res.json()["data"]["task"]["id"].as_u64().expect("id")
            }
        });
    let ids: Vec<u64> = join_all(creates).await;
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        users.len() * PER_USER,
        "ids must never repeat"
    );
    for u in &users {
        let list = app
            .call(
                Method::GET,
                &format!("/users/{}/tasks", u.id),
                &u.auth(),
                None,
            )
            .await
            .json();
        assert_eq!(list["data"]["count"], PER_USER);
    }
    let detail = app
        .call(Method::GET, &format!("/groups/{g}"), &Auth::Owner, None)
        .await
        .json();
    assert_eq!(detail["data"]["tasks_count"], users.len() * PER_USER);
    let stats = app
        .call(Method::GET, "/tasks/stats", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(stats["data"]["total_tasks"], users.len() * PER_USER);
}

#[tokio::test]
async fn ids_are_never_reused_after_deletes_or_restarts() {
    let app = spawn_app().await;
    let a = app.seed_user("user", &[]).await;
    app.call(
        Method::DELETE,
        &format!("/users/{}", a.id),
        &Auth::Owner,
        None,
    )
    .await;
    let again = app.restart_same_prefix().await;
    let b = again.seed_user("user", &[]).await;
    assert!(b.id > a.id, "{} after {}", b.id, a.id);
}

#[tokio::test]
async fn creates_sent_together_are_each_checked_and_answered_on_their_own() {
    use taskmaster_api::creates::CreateBatcher;
    use taskmaster_api::store::{NewTaskRow, Refusal};
    use taskmaster_shared::domain::UserId;
    use taskmaster_shared::keys::RowType;

    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(admin.id).await;
    let g2 = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[g1]).await;
    let v = app.seed_user("user", &[g2]).await;
    let batcher = CreateBatcher::start(app.store());
    let mut events = crate::dirty::events(&app).await;
    // (user, group, who must administer the group, credential guard, expected)
    let (ua, va, aa) = (u.id, v.id, admin.id.to_string());
    let cases: Vec<(u64, u64, &str, &str, Option<&str>)> = vec![
        (ua, g1, "", "", None),
        (ua, g2, "", "", Some("NOT_MEMBER")),
        (va, g2, "", "", None),
        (ua, 999_999_999, "", "", Some("GROUP_NOT_FOUND")),
        (888_888_888, g1, "", "", Some("USER_NOT_FOUND")),
        (ua, g1, "", "12345", Some("STALE_CREDENTIALS")),
        (ua, g1, "", "1", None),
        (ua, g1, &aa, "", None),
        (va, g2, "1", "", Some("FORBIDDEN_GROUP")),
        (ua, g1, "", "", None),
    ];
    let creates = cases
        .iter()
        .enumerate()
        .map(|(i, (user, group, admin, guard, _))| {
            let title = format!("batched {i}");
            let row = NewTaskRow {
                title: &title,
                priority: 2,
                deadline: "",
                information: "",
                user_id: *user,
                group_id: *group,
                now: "2026-11-21T00:00:00.000000Z",
                state: taskmaster_shared::domain::TaskState::Todo,
                created_by: None,
                labels: &taskmaster_shared::domain::Labels::default(),
            };
            let mut create = row.to_create();
            create.admin_check = admin.parse().ok().map(UserId);
            create.guard = guard.parse().ok();
            batcher.create(create)
        });
    let results: Vec<Result<u64, Refusal>> = join_all(creates)
        .await
        .into_iter()
        .map(|r| r.expect("redis").0)
        .collect();
    assert_eq!(batcher.largest_batch(), cases.len(), "sent as one batch");

    let mut accepted = Vec::new();
    for (i, (case, result)) in cases.iter().zip(&results).enumerate() {
        match (case.4, result) {
            (None, Ok(id)) => accepted.push((i, case.0, *id)),
            (Some(code), Err(got)) => {
                assert_eq!(Refusal::decode(code, ""), Some(got.clone()), "create {i}")
            }
            (expected, got) => panic!("create {i}: expected {expected:?}, got {got:?}"),
        }
    }
    // New ids, in order, with nothing skipped.
    let ids: Vec<u64> = accepted.iter().map(|a| a.2).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    // Each accepted task is stored as given; the refused left nothing.
    for (i, user, id) in &accepted {
        let res = app
            .call(
                Method::GET,
                &format!("/users/{user}/tasks/{id}"),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.json()["data"]["title"], format!("batched {i}"));
    }
    for (user, count) in [(u.id, 4), (v.id, 1)] {
        assert_eq!(crate::tasks::task_count(&app, user).await, count);
    }
    assert_eq!(
        crate::dirty::dirty(&app, RowType::Task).await,
        ids.iter().copied().collect::<BTreeSet<u64>>()
    );
    // Every index holds exactly its own new tasks: u's are all in g1, v's in g2.
    let mut redis = app.redis().await;
    let of = |owner: u64| -> BTreeSet<u64> {
        accepted
            .iter()
            .filter(|a| a.1 == owner)
            .map(|a| a.2)
            .collect()
    };
    for (key, expected) in [
        (app.keys.user_tasks(u.id), of(u.id)),
        (app.keys.user_tasks(v.id), of(v.id)),
        (app.keys.group_tasks(g1), of(u.id)),
        (app.keys.group_tasks(g2), of(v.id)),
    ] {
        let members: BTreeSet<u64> = redis::cmd("SMEMBERS")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .expect("smembers");
        assert_eq!(members, expected, "{key}");
    }
    // There is no set of all tasks (keys.rs): none may appear.
    let all: bool = redis::cmd("EXISTS")
        .arg(app.keys.all(RowType::Task))
        .query_async(&mut redis)
        .await
        .expect("exists");
    assert!(!all, "a set of all tasks was written");
    // One event per new row, in id order.
    let announced: Vec<u64> = crate::dirty::drain(&mut events)
        .await
        .iter()
        .filter(|e| e["type"] == "task")
        .map(|e| {
            assert_eq!(e["op"], "created", "{e}");
            e["id"].as_u64().expect("numeric id")
        })
        .collect();
    assert_eq!(announced, ids);
    let last: u64 = redis::cmd("GET")
        .arg(app.keys.sequence(RowType::Task))
        .query_async(&mut redis)
        .await
        .expect("seq");
    assert_eq!(Some(&last), ids.last());
}
