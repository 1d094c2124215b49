//! The views across users (filter, search, stats) answer exactly what the
//! caller may see, however the tasks are spread.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, spawn_app};

#[tokio::test]
async fn filter_search_and_stats_answer_what_the_caller_can_see() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let t1 = app.seed_task(u.id, group, "Write the report").await;
    let _t2 = app.seed_task(u.id, group, "Review code").await;
    app.call(
        Method::PUT,
        &format!("/users/{}/tasks/{t1}/done", u.id),
        &u.auth(),
        None,
    )
    .await;

    let res = app
        .call(
            Method::GET,
            "/tasks/filter?status=completed",
            &u.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(body["data"]["count"], 1);
    assert_eq!(body["data"]["tasks"][0]["id"], t1);
    assert_eq!(
        body["data"]["filters"],
        json!({"status": "completed", "priority": "", "group_id": "", "user_id": "", "state": "", "label": ""})
    );
    let res = app
        .call(
            Method::GET,
            "/tasks/filter?priority=2&status=pending",
            &admin.auth(),
            None,
        )
        .await
        .json();
    assert_eq!(res["data"]["count"], 1);
    let bad = app
        .call(Method::GET, "/tasks/filter?priority=high", &u.auth(), None)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    let res = app
        .call(Method::GET, "/tasks/search?q=REPORT", &admin.auth(), None)
        .await
        .json();
    assert_eq!(res["data"]["count"], 1);
    assert_eq!(res["data"]["results"][0]["user_id"], u.id);
    assert_eq!(res["data"]["results"][0]["task"]["id"], t1);
    assert_eq!(
        app.call(Method::GET, "/tasks/search?q=x", &u.auth(), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let stats = app
        .call(Method::GET, "/tasks/stats", &u.auth(), None)
        .await
        .json();
    assert_eq!(stats["data"]["total_tasks"], 2);
    assert_eq!(stats["data"]["completed_tasks"], 1);
    assert_eq!(stats["data"]["completion_rate"], 50.0);
    assert_eq!(stats["data"]["priority_counts"], json!({"2": 2}));
    assert_eq!(stats["data"]["user_id"], u.id);
    let stats = app
        .call(Method::GET, "/tasks/stats", &admin.auth(), None)
        .await
        .json();
    assert_eq!(stats["data"]["administered_groups"], json!([group]));
    assert_eq!(
        stats["data"]["group_task_counts"],
        json!({group.to_string(): 2})
    );
    let owner = app
        .call(Method::GET, "/tasks/stats", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(owner["data"]["total_users"], 3, "{owner}");
    assert_eq!(owner["data"]["total_tasks"], 2);

    let gs = app
        .call(
            Method::GET,
            &format!("/groups/{group}/stats"),
            &u.auth(),
            None,
        )
        .await
        .json();
    assert_eq!(gs["data"]["total_tasks"], 2);
    assert_eq!(gs["data"]["users_count"], 2);
    let counts: &Value = &gs["data"]["user_task_counts_by_id"];
    assert_eq!(counts[u.id.to_string()], 2);
}

#[tokio::test]
async fn a_group_admin_sees_only_the_tasks_of_groups_it_administers() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let admin2 = app.seed_user("group_admin", &[]).await;
    let other_group = app.seed_group(admin2.id).await;
    app.seed_member(other_group, u.id).await;
    let visible = app.seed_task(u.id, group, "in my group").await;
    let hidden = app.seed_task(u.id, other_group, "elsewhere").await;

    let list = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks", u.id),
            &admin.auth(),
            None,
        )
        .await
        .json();
    let ids: Vec<u64> = list["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, vec![visible]);
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{hidden}", u.id),
            &admin.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", u.id),
            &admin.auth(),
            Some(json!({"title": "x", "group_id": other_group})),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", u.id),
            &admin.auth(),
            Some(json!({"title": "x", "group_id": group})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
}

/// There is no set of all tasks: the owner's search, filter and stats read
/// every user's task set, a small one in a pipeline and a large one (over
/// 2,000 tasks) in pages. Every task must be counted once, whoever owns it.
#[tokio::test]
async fn the_owners_views_count_every_users_tasks_once_small_sets_and_large() {
    use taskmaster_api::store::NewTaskRow;
    let app = spawn_app().await;
    let (_, group, big) = app.seed_team().await;
    let small = app.seed_user("user", &[group]).await;
    let _idle = app.seed_user("user", &[group]).await;
    let store = app.store();
    let now = "2026-11-21T08:00:00.000000Z";
    let mut made = 0;
    while made < 2_050 {
        let mut creates = Vec::new();
        for i in made..(made + 205) {
            let title = format!("bulk {i}");
            creates.push(
                NewTaskRow {
                    title: &title,
                    priority: 1,
                    deadline: "",
                    information: "",
                    user_id: big.id,
                    group_id: group,
                    now,
                    state: taskmaster_shared::domain::TaskState::Todo,
                    created_by: None,
                    labels: &taskmaster_shared::domain::Labels::default(),
                }
                .to_create(),
            );
        }
        let written = store.create_tasks(&creates, now).await.expect("created");
        assert!(written.iter().all(Result::is_ok));
        made += 205;
    }
    for title in ["bulk small", "another"] {
        app.seed_task(small.id, group, title).await;
    }

    let search = app
        .call(Method::GET, "/tasks/search?q=BULK", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(search["data"]["count"], 2_051);
    let stats = app
        .call(Method::GET, "/tasks/stats", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(stats["data"]["total_tasks"], 2_052);
    let by_id = &stats["data"]["user_task_counts_by_id"];
    assert_eq!(by_id[big.id.to_string()], 2_050, "{by_id}");
    assert_eq!(by_id[small.id.to_string()], 2, "{by_id}");
    let filtered = app
        .call(Method::GET, "/tasks/filter?priority=2", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(filtered["data"]["count"], 2, "{filtered}");
}
