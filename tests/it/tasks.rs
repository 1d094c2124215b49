use hyper::{Method, StatusCode};
use serde_json::{Value, json};
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
        json!({"status": "completed", "priority": "", "group_id": "", "user_id": ""})
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

/// Creating one's own task with a recently verified password skips reading
/// the user's record; the write itself must still refuse a credential that
/// changed in between.
#[tokio::test]
async fn creating_own_tasks_is_refused_at_once_after_a_password_change_or_deletion() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let base = format!("/users/{}/tasks", u.id);
    let body = json!({"title": "Ünïcode \"quoted\" /slash\\ \u{1F600}", "group_id": group});
    for _ in 0..3 {
        let res = app
            .call(Method::POST, &base, &u.auth(), Some(body.clone()))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        // What was answered is what was stored, text byte for byte.
        let task = res.json()["data"]["task"].clone();
        assert_eq!(task["title"], body["title"]);
        let stored = app
            .call(
                Method::GET,
                &format!("{base}/{}", task["id"]),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(stored.json()["data"], task);
    }
    assert_eq!(task_count(&app, u.id).await, 3);

    // A role change keeps the password valid: still allowed.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"role": "group_admin"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(Method::POST, &base, &u.auth(), Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert_eq!(task_count(&app, u.id).await, 4);

    // A new password, set through another api instance: the old one is
    // refused on the next create, and nothing is written.
    let other = app.restart_same_prefix().await;
    let res = other
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"password": "brand-new-pw"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(Method::POST, &base, &u.auth(), Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    assert_eq!(task_count(&app, u.id).await, 4);
    let new = Auth::Basic(u.id.to_string(), "brand-new-pw".into());
    for _ in 0..2 {
        let res = app
            .call(Method::POST, &base, &new, Some(body.clone()))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    }
    assert_eq!(task_count(&app, u.id).await, 6);

    // Deleted: refused, and no row appears for the gone user.
    let res = other
        .call(
            Method::DELETE,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(Method::POST, &base, &new, Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    let res = app.call(Method::GET, &base, &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
}

/// Reading one's own task or task list with a recently verified password
/// reads only the user's credential version; a changed password,
/// a changed role or a deleted user must still show on the next read, on
/// this instance and on another.
#[tokio::test]
async fn reading_own_tasks_follows_a_password_change_role_change_or_deletion_at_once() {
    let app = spawn_app().await;
    let (_, group, u) = app.seed_team().await;
    let task = app.seed_task(u.id, group, "mine").await;
    let list = format!("/users/{}/tasks", u.id);
    let one = format!("{list}/{task}");
    let new = Auth::Basic(u.id.to_string(), "brand-new-pw".into());
    // The first read verifies the password; the next ones take the short way.
    for _ in 0..3 {
        let res = app.call(Method::GET, &one, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.json()["data"]["id"], task);
        let res = app.call(Method::GET, &list, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.json()["data"]["count"], 1);
    }
    // Someone else's task is still not found through one's own path.
    let (_, other_group, stranger) = app.seed_team().await;
    let theirs = app.seed_task(stranger.id, other_group, "theirs").await;
    let res = app
        .call(Method::GET, &format!("{list}/{theirs}"), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());

    // A role change is seen by the next read (promoted to owner, the user
    // may now read anyone's tasks) and keeps the password working.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let theirs_path = format!("/users/{}/tasks/{theirs}", stranger.id);
    let res = app.call(Method::GET, &theirs_path, &u.auth(), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for path in [&one, &list] {
        let res = app.call(Method::GET, path, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }

    // A new password, set through another instance: the old one is refused
    // at once by both.
    let other = app.restart_same_prefix().await;
    for path in [&one, &list] {
        let res = other.call(Method::GET, path, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    let res = other
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"password": "brand-new-pw"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for instance in [&app, &other] {
        for path in [&one, &list] {
            let res = instance.call(Method::GET, path, &u.auth(), None).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
            let res = instance.call(Method::GET, path, &new, None).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        }
    }

    // Deleted: refused everywhere on the next read.
    let res = other
        .call(
            Method::DELETE,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for instance in [&app, &other] {
        for path in [&one, &list] {
            let res = instance.call(Method::GET, path, &new, None).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
        }
    }
}

/// `(id, title, status, priority, group_id)` of every task in a list
/// answer, checking the answer's shape and its order by id on the way.
pub(crate) fn list_rows(body: &Value) -> Vec<(u64, String, bool, u64, u64)> {
    let tasks = body["data"]["tasks"].as_array().expect("tasks");
    assert_eq!(body["data"]["count"], tasks.len(), "{body}");
    let rows: Vec<_> = tasks
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().expect("id"),
                t["title"].as_str().expect("title").to_owned(),
                t["status"].as_bool().expect("status"),
                t["priority"].as_u64().expect("priority"),
                t["group_id"].as_u64().expect("group_id"),
            )
        })
        .collect();
    assert!(
        rows.windows(2).all(|w| w[0].0 < w[1].0),
        "not by id: {body}"
    );
    rows
}

#[tokio::test]
async fn a_task_list_follows_every_change_to_its_tasks_at_once_on_every_instance() {
    let app = spawn_app().await;
    let other = app.restart_same_prefix().await;
    let (admin, g1, u) = app.seed_team().await;
    let g2 = app.seed_group(admin.id).await;
    app.seed_member(g2, u.id).await;
    let list = format!("/users/{}/tasks", u.id);
    // Every reader, on both instances, must see `expected` on every read
    // (the second read of each is the one a kept answer would serve).
    let check = |expected: Vec<(u64, String, bool, u64, u64)>| {
        let (app, other, list, u) = (&app, &other, &list, &u);
        async move {
            for instance in [app, other] {
                for auth in [u.auth(), Auth::Owner] {
                    for _ in 0..2 {
                        let res = instance.call(Method::GET, list, &auth, None).await;
                        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
                        assert_eq!(list_rows(&res.json()), expected);
                    }
                }
            }
        }
    };
    check(Vec::new()).await;

    let mut ids = Vec::new();
    for (title, group) in [("a", g1), ("b", g2), ("c", g1)] {
        let res = app
            .call(
                Method::POST,
                &list,
                &u.auth(),
                Some(json!({"title": title, "group_id": group, "priority": 2})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        ids.push(res.json()["data"]["task"]["id"].as_u64().expect("id"));
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let row =
        |id, title: &str, done, priority, group| (id, title.to_owned(), done, priority, group);
    check(vec![
        row(a, "a", false, 2, g1),
        row(b, "b", false, 2, g2),
        row(c, "c", false, 2, g1),
    ])
    .await;

    // An update through the other instance.
    let res = other
        .call(
            Method::PUT,
            &format!("{list}/{a}"),
            &u.auth(),
            Some(json!({"title": "A"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![
        row(a, "A", false, 2, g1),
        row(b, "b", false, 2, g2),
        row(c, "c", false, 2, g1),
    ])
    .await;

    // Done, then a batch.
    let res = app
        .call(Method::PUT, &format!("{list}/{b}/done"), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = other
        .call(
            Method::POST,
            "/tasks/batch",
            &Auth::Owner,
            Some(json!({"task_ids": [a, c], "updates": {"priority": 1}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![
        row(a, "A", false, 1, g1),
        row(b, "b", true, 2, g2),
        row(c, "c", false, 1, g1),
    ])
    .await;

    // Removed from g2: its task there moves to g1.
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g2}/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![
        row(a, "A", false, 1, g1),
        row(b, "b", true, 2, g1),
        row(c, "c", false, 1, g1),
    ])
    .await;

    // One deleted, then the group with the rest.
    let res = other
        .call(Method::DELETE, &format!("{list}/{c}"), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(vec![row(a, "A", false, 1, g1), row(b, "b", true, 2, g1)]).await;
    let res = app
        .call(Method::DELETE, &format!("/groups/{g1}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    check(Vec::new()).await;
}

#[tokio::test]
async fn a_group_admin_sees_only_the_listed_users_tasks_in_groups_it_administers() {
    let app = spawn_app().await;
    let (admin, g1, u) = app.seed_team().await;
    let other_admin = app.seed_user("group_admin", &[]).await;
    let g2 = app.seed_group(other_admin.id).await;
    app.seed_member(g2, u.id).await;
    let mine = app.seed_task(u.id, g1, "in g1").await;
    app.seed_task(u.id, g2, "in g2").await;
    let list = format!("/users/{}/tasks", u.id);
    // The full list is read (and kept) first, by the user and the owner.
    for auth in [u.auth(), Auth::Owner] {
        let res = app.call(Method::GET, &list, &auth, None).await;
        assert_eq!(list_rows(&res.json()).len(), 2);
    }
    let res = app.call(Method::GET, &list, &admin.auth(), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let rows = list_rows(&res.json());
    assert_eq!(rows.len(), 1, "{}", res.text());
    assert_eq!(rows[0].0, mine);
    // Someone unrelated: 403; an unknown user: 404.
    let stranger = app.seed_user("user", &[]).await;
    let res = app.call(Method::GET, &list, &stranger.auth(), None).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    let res = app
        .call(Method::GET, "/users/987654321/tasks", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
}

/// There is no set of all tasks: the owner's search, filter and stats read
/// every user's task set, a small one in a pipeline and a large one (over
/// 2,000 tasks) in pages. Every task must be counted once, whoever owns it.
#[tokio::test]
async fn the_owners_views_count_every_users_tasks_once_small_sets_and_large() {
    use taskmaster_api::store::{NewCreate, NewTaskRow};
    use taskmaster_shared::domain::{GroupId, UserId};
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
            let tail = NewTaskRow {
                title: &title,
                priority: 1,
                deadline: "",
                information: "",
                user_id: big.id,
                group_id: group,
                now,
            }
            .tail();
            creates.push(NewCreate {
                user: UserId(big.id),
                group: GroupId(group),
                admin_check: None,
                guard: None,
                tail,
            });
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
