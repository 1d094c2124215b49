use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, spawn_app};

#[tokio::test]
async fn the_owner_creates_reads_renames_and_lists_groups() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let res = app
        .call(
            Method::POST,
            "/groups",
            &Auth::Owner,
            Some(json!({"name": "Engineering", "admin_id": admin.id})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let g = res.json()["data"]["group"].clone();
    assert_eq!(g["name"], "Engineering");
    assert_eq!(g["admin_id"], admin.id);
    let gid = g["id"].as_u64().expect("id");

    let detail = app
        .call(Method::GET, &format!("/groups/{gid}"), &admin.auth(), None)
        .await
        .json();
    assert_eq!(
        detail["data"]["users_count"], 1,
        "the admin becomes a member"
    );
    assert_eq!(detail["data"]["tasks_count"], 0);
    assert_eq!(detail["data"]["admin"]["id"], admin.id);
    assert_eq!(detail["data"]["admin"]["email"], admin.email);

    let dup = app
        .call(
            Method::POST,
            "/groups",
            &Auth::Owner,
            Some(json!({"name": "ENGINEERING", "admin_id": admin.id})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let res = app
        .call(
            Method::PUT,
            &format!("/groups/{gid}"),
            &Auth::Owner,
            Some(json!({"name": "Engineering Team"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["group"]["name"], "Engineering Team");
    let reuse = app
        .call(
            Method::POST,
            "/groups",
            &Auth::Owner,
            Some(json!({"name": "engineering", "admin_id": admin.id})),
        )
        .await;
    assert_eq!(
        reuse.status,
        StatusCode::CREATED,
        "the old name is free after a rename: {}",
        reuse.text()
    );

    let mine = app
        .call(Method::GET, "/groups", &admin.auth(), None)
        .await
        .json();
    assert_eq!(mine["data"]["count"], 2);
    let member = app.seed_user("user", &[gid]).await;
    let theirs = app.call(Method::GET, "/groups", &member.auth(), None).await;
    assert_eq!(theirs.status, StatusCode::OK, "users list their own groups");
    assert_eq!(theirs.json()["data"]["groups"][0]["id"], gid);
}

#[tokio::test]
async fn group_admins_must_have_an_admin_role() {
    let app = spawn_app().await;
    let plain = app.seed_user("user", &[]).await;
    let res = app
        .call(
            Method::POST,
            "/groups",
            &Auth::Owner,
            Some(json!({"name": "G", "admin_id": plain.id})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        res.text()
    );
    let res = app
        .call(
            Method::POST,
            "/groups",
            &Auth::Owner,
            Some(json!({"name": "G", "admin_id": 999999})),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The owner account's id, as bootstrap recorded it.
pub(crate) async fn owner_id(app: &taskmaster_tests::TestApp) -> u64 {
    let mut redis = app.redis().await;
    redis::cmd("HGET")
        .arg(app.keys.owner_bootstrap())
        .arg("id")
        .query_async(&mut redis)
        .await
        .expect("the owner account")
}

/// Who administers group `gid`, and whether they are among its members.
async fn admin_of_group(app: &taskmaster_tests::TestApp, gid: u64) -> (u64, bool) {
    let group = app
        .call(Method::GET, &format!("/groups/{gid}"), &Auth::Owner, None)
        .await
        .json();
    let admin = group["data"]["admin_id"].as_u64().expect("admin_id");
    assert_eq!(group["data"]["admin"]["id"], admin, "{group}");
    let members = app
        .call(
            Method::GET,
            &format!("/groups/{gid}/users"),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    let member = members["data"]["users"]
        .as_array()
        .expect("users")
        .iter()
        .any(|u| u["id"] == admin);
    (admin, member)
}

#[tokio::test]
async fn demoting_or_deleting_a_group_admin_hands_its_groups_to_the_owner_account() {
    let app = spawn_app().await;
    let owner = owner_id(&app).await;
    for demote in [true, false] {
        let admin = app.seed_user("group_admin", &[]).await;
        let (g1, g2) = (
            app.seed_group(admin.id).await,
            app.seed_group(admin.id).await,
        );
        let path = format!("/users/{}", admin.id);
        let res = if demote {
            app.call(
                Method::PUT,
                &path,
                &Auth::Owner,
                Some(json!({"role": "user"})),
            )
            .await
        } else {
            app.call(Method::DELETE, &path, &Auth::Owner, None).await
        };
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        for g in [g1, g2] {
            assert_eq!(admin_of_group(&app, g).await, (owner, true), "group {g}");
        }
        // A user demoted to `user` may not be made a group's admin again.
        if demote {
            let res = app
                .call(
                    Method::PUT,
                    &format!("/groups/{g1}"),
                    &Auth::Owner,
                    Some(json!({"admin_id": admin.id})),
                )
                .await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                res.text()
            );
        }
    }
    // The owner account itself has no one to hand its groups to.
    let g = app.seed_group(owner).await;
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{owner}"),
            &Auth::Owner,
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text());
    assert!(res.text().contains(&g.to_string()), "{}", res.text());

    // A group can still be given another admin explicitly, who becomes a
    // member.
    let admin2 = app.seed_user("group_admin", &[]).await;
    let res = app
        .call(
            Method::PUT,
            &format!("/groups/{g}"),
            &Auth::Owner,
            Some(json!({"admin_id": admin2.id})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(admin_of_group(&app, g).await, (admin2.id, true));
}

/// The reference system's own test script creates an admin, a group and
/// tasks, then deletes the users it made; run twice against one server,
/// its second run re-creates the same emails.
#[tokio::test]
async fn the_reference_scripts_create_and_clean_up_flow_works_twice_in_a_row() {
    let app = spawn_app().await;
    let dir = crate::restore::backup_dir();
    let (_syncd, pg) = crate::restore::syncd_for(&app, &dir).await;
    let owner = owner_id(&app).await;
    let stamp = taskmaster_tests::unique();
    for run in 0..2 {
        let create = |email: String, role: &str| json!({"full_name": "Ref", "email": email, "password": "secret1", "role": role});
        let res = app
            .call(
                Method::POST,
                "/users",
                &Auth::Owner,
                Some(create(
                    format!("ref-admin-{stamp}@example.com"),
                    "group_admin",
                )),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "run {run}: {}", res.text());
        let admin = res.json()["data"]["user"]["id"].as_u64().expect("id");
        let res = app
            .call(
                Method::POST,
                "/groups",
                &Auth::Owner,
                Some(json!({"name": format!("ref group {stamp} {run}"), "admin_id": admin})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "run {run}: {}", res.text());
        let group = res.json()["data"]["group"]["id"].as_u64().expect("id");
        let res = app
            .call(
                Method::POST,
                "/users",
                &Auth::Owner,
                Some(
                    json!({"full_name": "Ref", "email": format!("ref-user-{stamp}@example.com"),
                            "password": "secret1", "group_ids": [group]}),
                ),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "run {run}: {}", res.text());
        let user = res.json()["data"]["user"]["id"].as_u64().expect("id");
        let task = app.seed_task(user, group, "reference task").await;
        app.seed_task(admin, group, "the admin's task").await;
        // Clean-up, as the script does it: the users go, the group stays
        // with the owner as its admin, and the user's task goes with it.
        for id in [user, admin] {
            let res = app
                .call(Method::DELETE, &format!("/users/{id}"), &Auth::Owner, None)
                .await;
            assert_eq!(res.status, StatusCode::OK, "run {run}: {}", res.text());
        }
        assert_eq!(admin_of_group(&app, group).await, (owner, true));
        let res = app
            .call(
                Method::GET,
                &format!("/users/{user}/tasks/{task}"),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
    }
    // The groups' new admin reached PostgreSQL with everything else.
    let res = crate::restore::admin_sync(&app, "action=force").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    crate::sync::assert_same(&app, &pg).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn deleting_a_group_removes_it_from_its_members_and_deletes_its_tasks() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(admin.id).await;
    let g2 = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[g1, g2]).await;
    let in_g1 = app.seed_task(u.id, g1, "goes").await;
    let in_g2 = app.seed_task(u.id, g2, "stays").await;

    let res = app
        .call(Method::DELETE, &format!("/groups/{g1}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["data"]["affected_users"], 2);
    assert_eq!(body["data"]["deleted_tasks"], 1);
    assert_eq!(body["data"]["group"]["id"], g1);

    let user = app
        .call(Method::GET, &format!("/users/{}", u.id), &Auth::Owner, None)
        .await
        .json();
    assert_eq!(user["data"]["group_ids"], json!([g2]));
    let tasks = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks", u.id),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    let ids: Vec<u64> = tasks["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, vec![in_g2]);
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/users/{}/tasks/{in_g1}", u.id),
            &Auth::Owner,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::GET, &format!("/groups/{g1}"), &Auth::Owner, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let groups = app
        .call(Method::GET, "/groups", &admin.auth(), None)
        .await
        .json();
    assert_eq!(groups["data"]["count"], 1);
    // Its admin no longer administers it: not in who they are, nor in
    // their statistics (one entry per administered group).
    let me = app
        .call(Method::GET, "/auth/me", &admin.auth(), None)
        .await
        .json();
    assert_eq!(me["data"]["admin_of"], json!([g2]), "{me}");
    let stats = app
        .call(Method::GET, "/tasks/stats", &admin.auth(), None)
        .await
        .json();
    assert_eq!(stats["data"]["administered_groups"], json!([g2]), "{stats}");
    assert_eq!(
        stats["data"]["group_task_counts"],
        json!({ g2.to_string(): 1 }),
        "{stats}"
    );
}

#[tokio::test]
async fn removing_a_member_moves_their_tasks_to_their_first_remaining_group_or_deletes_them() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(admin.id).await;
    let g2 = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[g1, g2]).await;
    let t = app.seed_task(u.id, g2, "moves").await;

    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g2}/users/{}", u.id),
            &admin.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["affected_tasks"], 1);
    let task = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{t}", u.id),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    assert_eq!(task["data"]["group_id"], g1);
    let g2_tasks = app
        .call(
            Method::GET,
            &format!("/groups/{g2}/tasks"),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    assert_eq!(
        g2_tasks["data"]["count"], 0,
        "no stale entry in the old group"
    );
    let g2_members = app
        .call(
            Method::GET,
            &format!("/groups/{g2}/users"),
            &Auth::Owner,
            None,
        )
        .await
        .json();
    assert_eq!(
        g2_members["data"]["count"], 1,
        "only the admin is left: {g2_members}"
    );

    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g1}/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.json()["data"]["affected_tasks"], 1);
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/users/{}/tasks/{t}", u.id),
            &Auth::Owner,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND,
        "no group left: deleted"
    );
    let again = app
        .call(
            Method::DELETE,
            &format!("/groups/{g1}/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_a_user_deletes_their_tasks_and_memberships() {
    let app = spawn_app().await;
    let (_admin, g, u) = app.seed_team().await;
    app.seed_task(u.id, g, "a").await;
    app.seed_task(u.id, g, "b").await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let detail = app
        .call(Method::GET, &format!("/groups/{g}"), &Auth::Owner, None)
        .await
        .json();
    assert_eq!(detail["data"]["users_count"], 1);
    assert_eq!(detail["data"]["tasks_count"], 0);
    let mut redis = app.redis().await;
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}user:{}*", app.keys.prefix(), u.id))
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert!(left.is_empty(), "leftover keys {left:?}");
}

#[tokio::test]
async fn group_admins_add_only_plain_users_they_already_manage_and_only_to_their_groups() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    let g_also = app.seed_group(admin.id).await;
    let other_admin = app.seed_user("group_admin", &[]).await;
    let other_group = app.seed_group(other_admin.id).await;
    // Managed by `admin`: members of a group it administers.
    let plain = app.seed_user("user", &[g_also]).await;
    let owner_role = app.seed_user("owner", &[g_also]).await;
    // Not managed by it: in no group, or only in another admin's.
    let loner = app.seed_user("user", &[]).await;
    let elsewhere = app.seed_user("user", &[other_group]).await;

    let add = |gid: u64, uid: u64| {
        let app = &app;
        let auth = admin.auth();
        async move {
            app.call(
                Method::POST,
                &format!("/groups/{gid}/users"),
                &auth,
                Some(json!({"user_id": uid})),
            )
            .await
        }
    };
    assert_eq!(add(g, plain.id).await.status, StatusCode::OK);
    assert_eq!(add(g, plain.id).await.status, StatusCode::CONFLICT);
    assert_eq!(add(g, owner_role.id).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        add(g, other_admin.id).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        add(other_group, plain.id).await.status,
        StatusCode::FORBIDDEN
    );
    // Someone it does not manage reads exactly as someone who does not
    // exist: the refusal says nothing about accounts outside its groups.
    let missing = add(g, 999_999).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    for outsider in [loner.id, elsewhere.id] {
        let res = add(g, outsider).await;
        assert_eq!(res.status, missing.status, "{}", res.text());
        assert_eq!(res.json(), missing.json());
        // Nor can it read them afterwards.
        let res = app
            .call(
                Method::GET,
                &format!("/users/{outsider}"),
                &admin.auth(),
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    }
    // The owner adds anyone.
    let res = app
        .call(
            Method::POST,
            &format!("/groups/{g}/users"),
            &Auth::Owner,
            Some(json!({"user_id": loner.id})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

#[tokio::test]
async fn plain_members_see_co_members_by_name_only_and_their_own_task_count() {
    let app = spawn_app().await;
    let (admin, g, u1) = app.seed_team().await;
    let u2 = app.seed_user("user", &[g]).await;
    app.seed_task(u1.id, g, "mine").await;
    app.seed_task(u2.id, g, "theirs").await;
    app.seed_task(u2.id, g, "theirs too").await;
    let members = |auth: taskmaster_tests::Auth| {
        let app = &app;
        async move {
            let res = app
                .call(Method::GET, &format!("/groups/{g}/users"), &auth, None)
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text());
            res.json()["data"]["users"].clone()
        }
    };
    // The owner and the group's admin: every member in full.
    for auth in [Auth::Owner, admin.auth()] {
        let users = members(auth).await;
        let all = users.as_array().expect("users");
        assert_eq!(all.len(), 3, "{users}");
        assert!(
            all.iter()
                .all(|u| u["email"].is_string() && u["role"].is_string()),
            "{users}"
        );
    }
    // A plain member: ids and names, nothing a profile would show.
    let users = members(u1.auth()).await;
    for u in users.as_array().expect("users") {
        let keys: Vec<&String> = u.as_object().expect("a member").keys().collect();
        assert_eq!(keys, ["full_name", "id"], "{u}");
    }
    // Stats: the group's totals for everyone; per-member counts in full
    // for the managers, a plain member's own only.
    let stats = |auth: taskmaster_tests::Auth| {
        let app = &app;
        async move {
            let res = app
                .call(Method::GET, &format!("/groups/{g}/stats"), &auth, None)
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text());
            res.json()["data"].clone()
        }
    };
    let full = stats(admin.auth()).await;
    assert_eq!(full["total_tasks"], 3, "{full}");
    assert_eq!(
        full["user_task_counts_by_id"][u2.id.to_string()],
        2,
        "{full}"
    );
    let own = stats(u1.auth()).await;
    assert_eq!(own["total_tasks"], 3, "{own}");
    let by_id = own["user_task_counts_by_id"].as_object().expect("counts");
    assert_eq!(by_id.len(), 1, "{own}");
    assert_eq!(by_id[&u1.id.to_string()], 1, "{own}");
    assert_eq!(
        own["user_task_counts"].as_object().expect("counts").len(),
        1,
        "{own}"
    );
}
