use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_shared::keys::RowType;
use taskmaster_tests::{Auth, spawn_app};

#[tokio::test]
async fn a_user_creates_reads_updates_completes_and_deletes_own_task() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let base = format!("/users/{}/tasks", u.id);
    let res = app
        .call(
            Method::POST,
            &base,
            &u.auth(),
            Some(
                json!({"title": "Implement Login API", "priority": 1, "deadline": "2025-10-15",
                        "information": "REST", "group_id": group}),
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let created = res.json();
    assert_eq!(created["data"]["message"], "Task created successfully");
    let task = &created["data"]["task"];
    assert_eq!(task["status"], false);
    assert_eq!(task["priority"], 1);
    assert_eq!(task["deadline"], "2025-10-15");
    assert_eq!(task["user_id"], u.id);
    assert_eq!(task["group_id"], group);
    let tid = task["id"].as_u64().expect("id");

    let got = app
        .call(Method::GET, &format!("{base}/{tid}"), &u.auth(), None)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["data"]["title"], "Implement Login API");

    let upd = app
        .call(
            Method::PUT,
            &format!("{base}/{tid}"),
            &u.auth(),
            Some(json!({"priority": 3, "deadline": "", "information": ""})),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.text());
    let t = &upd.json()["data"]["task"];
    assert_eq!(t["priority"], 3);
    assert_eq!(t["deadline"], "", "deadline can be cleared");
    assert_eq!(t["information"], "", "information can be cleared");
    assert_eq!(
        t["title"], "Implement Login API",
        "absent fields are unchanged"
    );

    let done = app
        .call(Method::PUT, &format!("{base}/{tid}/done"), &u.auth(), None)
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.json()["data"]["message"], "Task marked as done");
    assert_eq!(done.json()["data"]["task"]["status"], true);

    let list = app.call(Method::GET, &base, &u.auth(), None).await.json();
    assert_eq!(list["data"]["count"], 1);
    assert_eq!(list["data"]["user_id"], u.id);

    let del = app
        .call(Method::DELETE, &format!("{base}/{tid}"), &u.auth(), None)
        .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(del.json()["data"]["task"]["id"], tid);
    let gone = app
        .call(Method::GET, &format!("{base}/{tid}"), &u.auth(), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let list = app.call(Method::GET, &base, &u.auth(), None).await.json();
    assert_eq!(list["data"]["tasks"], json!([]));
}

#[tokio::test]
async fn a_task_only_goes_into_a_group_its_user_belongs_to() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let other_group = app.seed_group(admin.id).await;
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", u.id),
            &Auth::Owner,
            Some(json!({"title": "t", "group_id": other_group})),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    assert_eq!(
        res.json()["error"],
        "User does not belong to specified group"
    );

    let tid = app.seed_task(u.id, group, "t").await;
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{tid}", u.id),
            &Auth::Owner,
            Some(json!({"group_id": other_group})),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{tid}", u.id),
            &Auth::Owner,
            Some(json!({"group_id": 999999})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        res.text()
    );

    app.seed_member(other_group, u.id).await;
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{tid}", u.id),
            &u.auth(),
            Some(json!({"group_id": other_group})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // The group indexes follow the move.
    let old = app
        .call(
            Method::GET,
            &format!("/groups/{group}/tasks"),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    assert_eq!(old["data"]["count"], 0, "{old}");
    let new = app
        .call(
            Method::GET,
            &format!("/groups/{other_group}/tasks"),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    assert_eq!(new["data"]["count"], 1, "{new}");
}

#[tokio::test]
async fn another_users_task_is_not_revealed() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let other = app.seed_user("user", &[group]).await;
    let tid = app.seed_task(other.id, group, "secret").await;
    // Through the wrong user path, even the owner gets 404.
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{tid}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // Through the right path, the other user's account is off limits (403), and
    // through its own path the task does not exist for u (404).
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{tid}", other.id),
            &u.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| json!({"title": "x"}));
        let res = app
            .call(
                method.clone(),
                &format!("/users/{}/tasks/{tid}", u.id),
                &u.auth(),
                body,
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{method}");
    }
    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": [tid], "action": "delete"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
    let still = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{tid}", other.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(still.status, StatusCode::OK);
}

#[tokio::test]
async fn the_zero_values_a_reference_client_sends_for_unset_fields_mean_not_set() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    // A client that serialises its whole task sends 0 and "" for what it
    // did not set: priority 0 is the default on create.
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", u.id),
            &u.auth(),
            Some(
                json!({"title": "Whole struct", "group_id": group, "priority": 0,
                        "deadline": "", "information": ""}),
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let task = res.json()["data"]["task"].clone();
    assert_eq!(task["priority"], 2, "{task}");
    let tid = task["id"].as_u64().expect("id");

    let path = format!("/users/{}/tasks/{tid}", u.id);
    let res = app
        .call(
            Method::PUT,
            &path,
            &u.auth(),
            Some(json!({"priority": 1, "information": "notes"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // On update, an empty title, priority 0 and group 0 leave those fields.
    let res = app
        .call(
            Method::PUT,
            &path,
            &u.auth(),
            Some(json!({"title": "", "priority": 0, "group_id": 0, "status": true})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let task = res.json()["data"]["task"].clone();
    assert_eq!(task["title"], "Whole struct", "{task}");
    assert_eq!(task["priority"], 1, "{task}");
    assert_eq!(task["group_id"], group, "{task}");
    assert_eq!(task["status"], true, "{task}");
    assert_eq!(task["information"], "notes", "{task}");

    // An update naming nothing to change (a batch's or one task's) answers
    // the tasks exactly as they are: no new updated_at, nothing for syncd.
    let _: () = redis::cmd("DEL")
        .arg(app.keys.dirty(RowType::Task))
        .query_async(&mut app.redis().await)
        .await
        .expect("del");
    for updates in [json!({}), json!({"priority": 0, "title": ""})] {
        let res = app
            .call(
                Method::POST,
                "/tasks/batch",
                &u.auth(),
                Some(json!({"task_ids": [tid], "action": "update", "updates": updates})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{updates}: {}", res.text());
        let body = res.json();
        assert_eq!(body["data"]["updated_count"], 1, "{body}");
        assert_eq!(body["data"]["updated_tasks"][0], task, "{body}");
    }
    let res = app
        .call(Method::PUT, &path, &u.auth(), Some(json!({})))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["task"], task);
    assert!(
        crate::dirty::dirty(&app, RowType::Task).await.is_empty(),
        "a change of nothing is not marked dirty"
    );
}

#[tokio::test]
async fn batch_changes_all_tasks_or_none() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let other = app.seed_user("user", &[group]).await;
    let mine: Vec<u64> = futures_ids(&app, u.id, group, 3).await;
    let theirs = app.seed_task(other.id, group, "theirs").await;

    let mut ids = mine.clone();
    ids.push(theirs);
    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": ids, "action": "update", "updates": {"priority": 1}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
    let body = res.json();
    assert_eq!(body["error_count"], 1);
    assert_eq!(body["errors"][0], format!("Task {theirs} not found"));
    for tid in &mine {
        let t = app
            .call(
                Method::GET,
                &format!("/users/{}/tasks/{tid}", u.id),
                &u.auth(),
                None,
            )
            .await
            .json();
        assert_eq!(
            t["data"]["priority"], 2,
            "nothing changes when one task is refused"
        );
    }

    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": mine, "updates": {"priority": 1, "title": "batched"}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["data"]["updated_count"], 3);
    assert_eq!(body["data"]["total_requested"], 3);
    let before = body["data"]["updated_tasks"][0]["updated_at"].clone();
    assert!(
        body["data"]["updated_tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .all(|t| t["priority"] == 1 && t["title"] == "batched")
    );
    assert!(before.is_string());

    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": mine, "action": "mark_done"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.json()["data"]["updated_tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .all(|t| t["status"] == true)
    );

    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": mine, "action": "delete"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["data"]["deleted_count"], 3);
    let list = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks", u.id),
            &u.auth(),
            None,
        )
        .await
        .json();
    assert_eq!(list["data"]["count"], 0);

    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": [theirs], "action": "explode"})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown actions are refused, never run as update"
    );
    let res = app
        .call(
            Method::POST,
            "/tasks/batch",
            &u.auth(),
            Some(json!({"task_ids": []})),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn futures_ids(app: &taskmaster_tests::TestApp, user: u64, group: u64, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(app.seed_task(user, group, &format!("task {i}")).await);
    }
    ids
}

/// How many tasks user `user` has, as its task list answers.
pub(crate) async fn task_count(app: &taskmaster_tests::TestApp, user: u64) -> u64 {
    let res = app
        .call(
            Method::GET,
            &format!("/users/{user}/tasks"),
            &Auth::Owner,
            None,
        )
        .await;
    res.json()["data"]["count"].as_u64().expect("count")
}

#[tokio::test]
async fn a_task_that_is_not_there_is_named_as_such_and_so_is_a_user_that_is_not_there() {
    let app = spawn_app().await;
    let (admin, group, u) = app.seed_team().await;
    let other = app.seed_user("user", &[group]).await;
    let others_task = app.seed_task(other.id, group, "not u's").await;
    let (missing_user, missing_task) = (4_000_000_000_u64, 4_000_000_001_u64);
    // (caller, path user, task): the message every one of a task's
    // routes answers with 404.
    let cases = [
        (Auth::Owner, u.id, missing_task, "Task not found"),
        (Auth::Owner, u.id, others_task, "Task not found"),
        (Auth::Owner, missing_user, missing_task, "User not found"),
        (u.auth(), u.id, missing_task, "Task not found"),
        (u.auth(), u.id, others_task, "Task not found"),
        (admin.auth(), u.id, missing_task, "Task not found"),
    ];
    for (caller, user, task, message) in cases {
        let path = format!("/users/{user}/tasks/{task}");
        for (method, path, body) in [
            (Method::GET, path.clone(), None),
            (Method::PUT, path.clone(), Some(json!({"priority": 3}))),
            (Method::PUT, format!("{path}/done"), None),
            (Method::DELETE, path.clone(), None),
        ] {
            let res = app.call(method.clone(), &path, &caller, body).await;
            assert_eq!(
                res.status,
                StatusCode::NOT_FOUND,
                "{method} {path}: {}",
                res.text()
            );
            assert_eq!(
                res.json()["error"],
                message,
                "{method} {path} as {caller:?}"
            );
        }
    }
    // None of them changed the task they could not see.
    let task = app.task(other.id, others_task, &other.auth()).await;
    assert_eq!(
        (&task["priority"], &task["status"]),
        (&json!(2), &json!(false)),
        "{task}"
    );
}
