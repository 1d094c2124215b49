use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, OWNER_PASSWORD, TestApp, spawn_app};

#[tokio::test]
async fn the_owner_account_exists_after_start_and_logs_in_by_email_in_any_case() {
    let app = spawn_app().await;
    let res = app.call(Method::GET, "/users", &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["success"], true);
    let users = body["data"]["users"].as_array().expect("users array");
    let owner = users
        .iter()
        .find(|u| u["role"] == "owner")
        .expect("owner account");
    assert_eq!(owner["full_name"], "System Owner");
    assert_eq!(owner["email"], "admin@gmail.com");
    let id = owner["id"].as_u64().expect("id");

    let by_email = Auth::Basic("ADMIN@Gmail.com".into(), OWNER_PASSWORD.into());
    let res = app
        .call(Method::GET, &format!("/users/{id}"), &by_email, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["id"], id);
}

#[tokio::test]
async fn restarting_the_api_never_recreates_or_overwrites_the_owner_account() {
    let app = spawn_app().await;
    let list = app
        .call(Method::GET, "/users", &Auth::Owner, None)
        .await
        .json();
    let owner_id = list["data"]["users"][0]["id"].as_u64().expect("owner id");
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{owner_id}"),
            &Auth::Owner,
            Some(json!({"full_name": "Renamed Owner"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    let again = app.restart_same_prefix().await;
    let list = again
        .call(Method::GET, "/users", &Auth::Owner, None)
        .await
        .json();
    let users = list["data"]["users"].as_array().expect("users");
    assert_eq!(users.len(), 1, "{list}");
    assert_eq!(users[0]["full_name"], "Renamed Owner");
}

#[tokio::test]
async fn a_changed_owner_password_replaces_the_bootstrap_one_also_after_a_restore_but_never_one_the_owner_set()
 {
    let app = spawn_app().await;
    async fn start(app: &TestApp, secret: &str) -> TestApp {
        app.restart_with(&[("OWNER_PASSWORD", secret)]).await
    }
    async fn logs_in(app: &TestApp, password: &str) -> StatusCode {
        let auth = Auth::Basic("admin@gmail.com".into(), password.into());
        app.call(Method::GET, "/users/search?q=admin", &auth, None)
            .await
            .status
    }

    let second = start(&app, "second-secret").await;
    assert_eq!(logs_in(&second, "second-secret").await, StatusCode::OK);
    assert_eq!(
        logs_in(&second, OWNER_PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );

    // A restore forgets which account bootstrap made; the next start adopts
    // the account holding OWNER_EMAIL, which still has the secret's password.
    let _: () = redis::cmd("DEL")
        .arg(app.keys.owner_bootstrap())
        .query_async(&mut app.redis().await)
        .await
        .expect("del");
    let adopted = start(&app, "second-secret").await;
    assert_eq!(logs_in(&adopted, "second-secret").await, StatusCode::OK);
    let meta = app.keys.owner_bootstrap();
    let remembered: String = redis::cmd("HGET")
        .arg(&meta)
        .arg("pw")
        .query_async(&mut app.redis().await)
        .await
        .expect("hget");
    assert!(remembered.starts_with("$argon2id$"), "{remembered}");
    // Had remembering failed after the adoption, the next start makes it good.
    let _: () = redis::cmd("HSET")
        .arg(&meta)
        .arg("pw")
        .arg("")
        .query_async(&mut app.redis().await)
        .await
        .expect("hset");
    start(&app, "second-secret").await;
    let third = start(&app, "third-secret").await;
    assert_eq!(logs_in(&third, "third-secret").await, StatusCode::OK);
    assert_eq!(
        logs_in(&third, "second-secret").await,
        StatusCode::UNAUTHORIZED
    );

    // A password the owner set is never replaced.
    let owner = Auth::Basic("admin@gmail.com".into(), "third-secret".into());
    let owner_id = third.call(Method::GET, "/users", &owner, None).await.json()["data"]["users"][0]
        ["id"]
        .as_u64()
        .expect("owner id");
    let res = third
        .call(
            Method::PUT,
            &format!("/users/{owner_id}"),
            &owner,
            Some(json!({"password": "chosen-by-owner"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let fourth = start(&app, "fourth-secret").await;
    assert_eq!(logs_in(&fourth, "chosen-by-owner").await, StatusCode::OK);
    assert_eq!(
        logs_in(&fourth, "fourth-secret").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn creating_a_user_answers_201_without_any_password_field() {
    let app = spawn_app().await;
    let res = app
        .call(
            Method::POST,
            "/users",
            &Auth::Owner,
            Some(json!({
                "full_name": "Alice Admin", "email": "alice@company.com", "password": "alice123",
                "role": "group_admin", "number": "+1234", "work_times": {"monday": 8, "Friday": 6.5}
            })),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let body = res.json();
    assert_eq!(body["data"]["message"], "User created successfully");
    let user = &body["data"]["user"];
    assert_eq!(user["role"], "group_admin");
    assert_eq!(user["group_ids"], json!([]));
    assert_eq!(user["number"], "+1234");
    assert_eq!(user["work_times"], json!({"Monday": 8, "Friday": 6.5}));
    assert!(user.get("password").is_none());
    assert!(
        !res.text().contains("argon2"),
        "hash leaked: {}",
        res.text()
    );
    for field in ["id", "created_at", "updated_at", "email", "full_name"] {
        assert!(!user[field].is_null(), "{field} missing");
    }
}

#[tokio::test]
async fn users_log_in_with_basic_auth_by_id_or_email_and_bad_credentials_get_401() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    let path = format!("/users/{}", u.id);
    assert_eq!(
        app.call(Method::GET, &path, &u.auth(), None).await.status,
        StatusCode::OK
    );
    let by_email = Auth::Basic(u.email.to_uppercase(), u.password.clone());
    assert_eq!(
        app.call(Method::GET, &path, &by_email, None).await.status,
        StatusCode::OK
    );

    for auth in [
        Auth::None,
        Auth::Basic(u.id.to_string(), "wrong-password".into()),
        Auth::Basic("nobody@example.com".into(), u.password.clone()),
        Auth::Basic("999999".into(), u.password.clone()),
    ] {
        let res = app.call(Method::GET, &path, &auth, None).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            res.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Basic"))
        );
        assert_eq!(res.json()["success"], false);
    }
    let wrong_owner = app
        .request(
            Method::GET,
            "/users",
            &[("x-owner-password", "not-the-secret")],
            "",
        )
        .await;
    assert_eq!(wrong_owner.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_takes_effect_on_the_very_next_request() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    let path = format!("/users/{}", u.id);
    assert_eq!(
        app.call(Method::GET, &path, &u.auth(), None).await.status,
        StatusCode::OK
    );
    let res = app
        .call(
            Method::PUT,
            &path,
            &u.auth(),
            Some(json!({"password": "brand-new-pw"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        app.call(Method::GET, &path, &u.auth(), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let new = Auth::Basic(u.id.to_string(), "brand-new-pw".into());
    assert_eq!(
        app.call(Method::GET, &path, &new, None).await.status,
        StatusCode::OK
    );

    // Another api instance on the same data sees it too.
    let other = app.restart_same_prefix().await;
    assert_eq!(
        other.call(Method::GET, &path, &u.auth(), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        other.call(Method::GET, &path, &new, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn deleting_a_user_locks_them_out_at_once() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    let path = format!("/users/{}", u.id);
    assert_eq!(
        app.call(Method::GET, &path, &u.auth(), None).await.status,
        StatusCode::OK
    );
    let res = app.call(Method::DELETE, &path, &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["user"]["id"], u.id);
    assert_eq!(
        app.call(Method::GET, &path, &u.auth(), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::GET, &path, &Auth::Owner, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn emails_are_unique_case_insensitively_and_a_changed_email_frees_the_old_one() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    let dup = app
        .call(
            Method::POST,
            "/users",
            &Auth::Owner,
            Some(json!({"full_name": "X", "email": u.email.to_uppercase(), "password": "secret1"})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.text());

    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &u.auth(),
            Some(json!({"email": "fresh@example.com"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let old_login = Auth::Basic(u.email.clone(), u.password.clone());
    assert_eq!(
        app.call(Method::GET, &format!("/users/{}", u.id), &old_login, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let reuse = app
        .call(
            Method::POST,
            "/users",
            &Auth::Owner,
            Some(json!({"full_name": "Y", "email": u.email, "password": "secret1"})),
        )
        .await;
    assert_eq!(
        reuse.status,
        StatusCode::CREATED,
        "old address must be free: {}",
        reuse.text()
    );
}

#[tokio::test]
async fn a_group_admin_may_send_back_the_user_it_read_but_not_change_its_email() {
    let app = spawn_app().await;
    let (admin, _, user) = app.seed_team().await;
    let path = format!("/users/{}", user.id);
    let read = app
        .call(Method::GET, &path, &admin.auth(), None)
        .await
        .json();
    let mut body = read["data"].clone();
    body["full_name"] = json!("Renamed by admin");
    let res = app
        .call(Method::PUT, &path, &admin.auth(), Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["user"]["full_name"], "Renamed by admin");

    body["email"] = json!(format!("other{}@example.com", taskmaster_tests::unique()));
    let res = app
        .call(Method::PUT, &path, &admin.auth(), Some(body))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    let after = app
        .call(Method::GET, &path, &Auth::Owner, None)
        .await
        .json();
    assert_eq!(after["data"]["email"], json!(user.email));
}

#[tokio::test]
async fn work_times_can_be_read_and_replaced_and_are_required_on_put() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    let path = format!("/users/{}/worktimes", u.id);
    let res = app
        .call(
            Method::PUT,
            &path,
            &u.auth(),
            Some(json!({"work_times": {"TUESDAY": 7.5}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        res.json()["data"]["message"],
        "Work times updated successfully"
    );
    let got = app.call(Method::GET, &path, &u.auth(), None).await.json();
    assert_eq!(
        got["data"],
        json!({"user_id": u.id, "work_times": {"Tuesday": 7.5}})
    );
    let missing = app
        .call(Method::PUT, &path, &u.auth(), Some(json!({})))
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.text()
    );
    let still = app.call(Method::GET, &path, &u.auth(), None).await.json();
    assert_eq!(
        still["data"]["work_times"],
        json!({"Tuesday": 7.5}),
        "a refused PUT must not clear the map"
    );
}

#[tokio::test]
async fn user_search_matches_name_or_email_case_insensitively() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    let res = app
        .call(
            Method::GET,
            "/users/search?q=EXAMPLE.COM",
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(body["data"]["query"], "EXAMPLE.COM");
    let ids: Vec<u64> = body["data"]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, vec![u.id]);
    assert_eq!(body["data"]["count"], 1);
    let none = app
        .call(Method::GET, "/users/search?q=zzzz", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(
        none["data"]["results"],
        json!([]),
        "empty lists are [] not null"
    );
    let missing = app
        .call(Method::GET, "/users/search", &Auth::Owner, None)
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unicode_text_round_trips_byte_exact() {
    let app = spawn_app().await;
    let name = "Zoë 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{200d}👩‍💻 \"quoted\" \\ back\nline";
    let res = app
        .call(
            Method::POST,
            "/users",
            &Auth::Owner,
            Some(json!({"full_name": name, "email": "zoë@exämple.com", "password": "secret1"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let id = res.json()["data"]["user"]["id"].as_u64().expect("id");
    let got = app
        .call(Method::GET, &format!("/users/{id}"), &Auth::Owner, None)
        .await
        .json();
    assert_eq!(got["data"]["full_name"], name);
    assert_eq!(got["data"]["email"], "zoë@exämple.com");
}
