//! Login sessions (issue 19): `POST /auth/login`, bearer access tokens,
//! `POST /auth/refresh` with rotation and reuse detection,
//! `POST /auth/logout`, `GET /auth/me`, and what ends a session.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, Seeded, TestApp, TestResponse, spawn_app, spawn_app_with};

/// A session's tokens, from a login or a refresh answer.
struct Tokens {
    access: String,
    refresh: String,
}

impl Tokens {
    fn bearer(&self) -> Auth {
        Auth::Bearer(self.access.clone())
    }
}

fn tokens_of(res: &TestResponse) -> Tokens {
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let data = &res.json()["data"];
    assert_eq!(data["token_type"], "Bearer");
    Tokens {
        access: data["access_token"].as_str().expect("access").to_owned(),
        refresh: data["refresh_token"].as_str().expect("refresh").to_owned(),
    }
}

async fn login_as(app: &TestApp, login: Value, password: &str) -> TestResponse {
    app.call(
        Method::POST,
        "/auth/login",
        &Auth::None,
        Some(json!({"login": login, "password": password})),
    )
    .await
}

async fn login(app: &TestApp, user: &Seeded) -> Tokens {
    tokens_of(&login_as(app, json!(user.id), &user.password).await)
}

async fn refresh(app: &TestApp, refresh_token: &str) -> TestResponse {
    app.call(
        Method::POST,
        "/auth/refresh",
        &Auth::None,
        Some(json!({"refresh_token": refresh_token})),
    )
    .await
}

async fn status_of(app: &TestApp, path: &str, auth: &Auth) -> StatusCode {
    app.call(Method::GET, path, auth, None).await.status
}

#[tokio::test]
async fn a_login_by_id_or_by_email_opens_a_session_that_acts_with_the_users_rights() {
    let app = spawn_app().await;
    let (admin, group, member) = app.seed_team().await;
    let task = app.seed_task(member.id, group, "Member's task").await;
    let stranger = app.seed_user("user", &[]).await;

    let by_email = login_as(&app, json!(member.email.to_uppercase()), &member.password).await;
    let by_id_text = login_as(&app, json!(member.id.to_string()), &member.password).await;
    let data = &by_email.json()["data"];
    assert_eq!(data["user"]["id"], member.id);
    assert_eq!(data["expires_in"], 900);
    assert_eq!(data["refresh_expires_in"], 30 * 24 * 3600);
    let (a, b) = (tokens_of(&by_email), tokens_of(&by_id_text));
    assert_ne!(a.access, b.access, "each login is a session of its own");

    // Its own task (the one-round-trip path), someone else's data, and
    // what its role forbids.
    let own = format!("/users/{}/tasks/{task}", member.id);
    let res = app.call(Method::GET, &own, &a.bearer(), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["title"], "Member's task");
    assert_eq!(
        status_of(&app, &format!("/users/{}", admin.id), &a.bearer()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(&app, &format!("/users/{}", stranger.id), &a.bearer()).await,
        StatusCode::FORBIDDEN
    );
    // The admin's session reads its member's task (the full-record path).
    let admin_tokens = login(&app, &admin).await;
    assert_eq!(
        status_of(&app, &own, &admin_tokens.bearer()).await,
        StatusCode::OK
    );
    let created = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", member.id),
            &a.bearer(),
            Some(json!({"title": "By token", "group_id": group})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());

    let me = app.call(Method::GET, "/auth/me", &a.bearer(), None).await;
    let me = me.json();
    assert_eq!(me["data"]["method"], "session");
    assert_eq!(me["data"]["role"], "user");
    assert_eq!(me["data"]["user"]["id"], member.id);
    assert_eq!(me["data"]["user"]["group_ids"], json!([group]));
    let me_admin = app
        .call(Method::GET, "/auth/me", &admin.auth(), None)
        .await
        .json();
    assert_eq!(me_admin["data"]["method"], "basic");
    assert_eq!(me_admin["data"]["admin_of"], json!([group]));
    let me_owner = app
        .call(Method::GET, "/auth/me", &Auth::Owner, None)
        .await
        .json();
    assert_eq!(me_owner["data"]["method"], "owner_header");
    assert_eq!(me_owner["data"]["user"], Value::Null);
}

#[tokio::test]
async fn bad_logins_and_malformed_tokens_are_refused_with_the_right_status() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let tokens = login(&app, &user).await;
    let mine = format!("/users/{}", user.id);

    // (login body, status)
    let cases = [
        (
            json!({"login": user.id, "password": "wrong"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            json!({"login": "nobody@example.com", "password": "x"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            json!({"login": "x".repeat(300), "password": "x"}),
            StatusCode::UNAUTHORIZED,
        ),
        (json!({"password": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"login": user.id}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"login": [1], "password": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"login": 0, "password": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"login": "a", "password": 5}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, status) in cases {
        let res = app
            .call(Method::POST, "/auth/login", &Auth::None, Some(body.clone()))
            .await;
        assert_eq!(res.status, status, "{body}: {}", res.text());
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert!(
                res.json()["error"]
                    .as_str()
                    .expect("error")
                    .contains("login")
                    || res.json()["error"]
                        .as_str()
                        .expect("error")
                        .contains("password")
            );
        }
    }
    let garbage = app
        .request(Method::POST, "/auth/login", &[], "{not json")
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

    // Tokens: tampered, truncated, the refresh token as a bearer, another
    // scheme's word, an empty one.
    let mut tampered = tokens.access.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let other_user = tokens
        .access
        .replacen(&format!("tma_{}.", user.id), "tma_1.", 1);
    for bad in [
        tampered,
        tokens.access[..tokens.access.len() - 1].to_owned(),
        tokens.refresh.clone(),
        other_user,
        String::new(),
        "x".repeat(10_000),
    ] {
        let res = app
            .call(Method::GET, &mine, &Auth::Bearer(bad.clone()), None)
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{bad:.40}");
    }
    // The access token is no refresh token.
    assert_eq!(
        refresh(&app, &tokens.access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&app, &mine, &tokens.bearer()).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_access_token_stops_working_at_its_expiry_and_a_refresh_gives_a_new_one() {
    let shared = taskmaster_tests::shared().await;
    let app = spawn_app_with(shared.redis.port, &[("ACCESS_TOKEN_TTL", "1s")]).await;
    let user = app.seed_user("user", &[]).await;
    let mine = format!("/users/{}", user.id);
    let tokens = login(&app, &user).await;
    assert_eq!(
        status_of(&app, &mine, &tokens.bearer()).await,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        status_of(&app, &mine, &tokens.bearer()).await,
        StatusCode::UNAUTHORIZED
    );
    let fresh = tokens_of(&refresh(&app, &tokens.refresh).await);
    assert_eq!(
        status_of(&app, &mine, &fresh.bearer()).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_refresh_rotates_and_a_second_use_of_a_refresh_token_ends_the_session() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let mine = format!("/users/{}", user.id);
    let first = login(&app, &user).await;
    let second = tokens_of(&refresh(&app, &first.refresh).await);
    assert_ne!(first.refresh, second.refresh);
    assert_ne!(first.access, second.access);
    // The access token it replaced stays valid until its own expiry:
    // requests already under way must not fail.
    assert_eq!(
        status_of(&app, &mine, &first.bearer()).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&app, &mine, &second.bearer()).await,
        StatusCode::OK
    );

    // The first refresh token again: someone else holds it. The session
    // ends, for the tokens of both holders.
    assert_eq!(
        refresh(&app, &first.refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&app, &mine, &second.bearer()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&app, &mine, &first.bearer()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &second.refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Other sessions of the user are untouched.
    let other = login(&app, &user).await;
    assert_eq!(
        status_of(&app, &mine, &other.bearer()).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_all_every_one_on_every_instance_at_once() {
    let app = spawn_app().await;
    let other_instance = app.restart_same_prefix().await;
    let user = app.seed_user("user", &[]).await;
    let mine = format!("/users/{}", user.id);
    let (a, b, c) = (
        login(&app, &user).await,
        login(&app, &user).await,
        login(&app, &user).await,
    );

    let out = app
        .call(Method::POST, "/auth/logout", &a.bearer(), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.body.is_empty());
    assert_eq!(
        status_of(&other_instance, &mine, &a.bearer()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&other_instance, &a.refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&other_instance, &mine, &b.bearer()).await,
        StatusCode::OK
    );

    // Logging out needs a session unless it ends them all.
    let basic = app
        .call(Method::POST, "/auth/logout", &user.auth(), None)
        .await;
    assert_eq!(basic.status, StatusCode::BAD_REQUEST, "{}", basic.text());
    let owner = app
        .call(Method::POST, "/auth/logout?all=true", &Auth::Owner, None)
        .await;
    assert_eq!(owner.status, StatusCode::BAD_REQUEST);
    let bad = app
        .call(Method::POST, "/auth/logout?all=yes", &b.bearer(), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let all = app
        .call(Method::POST, "/auth/logout?all=true", &user.auth(), None)
        .await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    for t in [&b, &c] {
        assert_eq!(
            status_of(&other_instance, &mine, &t.bearer()).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            refresh(&other_instance, &t.refresh).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Basic auth is not a session: it goes on working.
    assert_eq!(
        status_of(&other_instance, &mine, &user.auth()).await,
        StatusCode::OK
    );
    other_instance.stop().await;
}

#[tokio::test]
async fn a_password_change_a_role_change_or_a_deletion_ends_the_users_sessions() {
    let app = spawn_app().await;
    let (admin, _group, member) = app.seed_team().await;
    let user = app.seed_user("user", &[]).await;
    let mine = |id: u64| format!("/users/{id}");

    // (who, change) — made by the owner.
    let changes = [
        (
            member.clone(),
            Some(json!({"password": "a-brand-new-pass"})),
        ),
        (admin.clone(), Some(json!({"role": "user"}))),
        (user.clone(), None),
    ];
    for (who, change) in changes {
        let tokens = login(&app, &who).await;
        let other_user = app.seed_user("user", &[]).await;
        let bystander = login(&app, &other_user).await;
        assert_eq!(
            status_of(&app, &mine(who.id), &tokens.bearer()).await,
            StatusCode::OK
        );
        let res = match &change {
            Some(body) => {
                app.call(Method::PUT, &mine(who.id), &Auth::Owner, Some(body.clone()))
                    .await
            }
            None => {
                app.call(Method::DELETE, &mine(who.id), &Auth::Owner, None)
                    .await
            }
        };
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(
            status_of(&app, &mine(who.id), &tokens.bearer()).await,
            StatusCode::UNAUTHORIZED,
            "{change:?}"
        );
        assert_eq!(
            refresh(&app, &tokens.refresh).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(&app, &mine(other_user.id), &bystander.bearer()).await,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn the_session_that_changes_its_own_password_stays_and_every_other_one_ends() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let mine = format!("/users/{}", user.id);
    let (changer, other) = (login(&app, &user).await, login(&app, &user).await);
    let res = app
        .call(
            Method::PUT,
            &mine,
            &changer.bearer(),
            Some(json!({"password": "my-new-password"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        status_of(&app, &mine, &changer.bearer()).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&app, &mine, &other.bearer()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&app, &mine, &user.auth()).await,
        StatusCode::UNAUTHORIZED
    );
    let renewed = tokens_of(&refresh(&app, &changer.refresh).await);
    assert_eq!(
        status_of(&app, &mine, &renewed.bearer()).await,
        StatusCode::OK
    );
    let new_basic = Auth::Basic(user.id.to_string(), "my-new-password".into());
    assert_eq!(status_of(&app, &mine, &new_basic).await, StatusCode::OK);

    // Changed through Basic auth, no session stays.
    let res = app
        .call(
            Method::PUT,
            &mine,
            &new_basic,
            Some(json!({"password": "third-password"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        status_of(&app, &mine, &renewed.bearer()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_restore_ends_every_session_and_the_password_still_opens_a_new_one() {
    let dir = crate::restore::backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = crate::restore::syncd_for(&app, &dir).await;
    let (_, group, user) = app.seed_team().await;
    let task = app.seed_task(user.id, group, "mine").await;
    // Both ways a bearer request is checked: about the caller's own data
    // (the session's record alone) and about anything else (with the
    // user's whole record).
    let own = format!("/users/{}/tasks/{task}", user.id);
    let mine = format!("/users/{}", user.id);
    let session = login(&app, &user).await;
    assert_eq!(
        status_of(&app, &own, &session.bearer()).await,
        StatusCode::OK
    );
    let res = crate::restore::admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for path in [&own, &mine] {
        assert_eq!(
            status_of(&app, path, &session.bearer()).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    assert_eq!(
        refresh(&app, &session.refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = login(&app, &user).await;
    assert_eq!(
        status_of(&app, &mine, &again.bearer()).await,
        StatusCode::OK
    );
    let _ = std::fs::remove_dir_all(&dir);
}
