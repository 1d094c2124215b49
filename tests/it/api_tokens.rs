//! Personal API tokens (issue 19): `GET/POST /auth/tokens`,
//! `DELETE /auth/tokens/{id}`, their scope, expiry and last use, what
//! revokes them, and their durability through a flush, a Redis wipe, a
//! restore and a backup.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, Seeded, TestApp, eventually, spawn_app};

use crate::restore::{admin_sync, backup_dir, syncd_for};

async fn make(app: &TestApp, auth: &Auth, body: Value) -> (StatusCode, Value) {
    let res = app
        .call(Method::POST, "/auth/tokens", auth, Some(body))
        .await;
    (res.status, res.json())
}

/// A token of `user` made with its password: its bearer auth and id.
async fn token(app: &TestApp, user: &Seeded, body: Value) -> (Auth, String) {
    let (status, answer) = make(app, &user.auth(), body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let data = &answer["data"];
    (
        Auth::Bearer(data["token"].as_str().expect("token").to_owned()),
        data["api_token"]["id"].as_str().expect("id").to_owned(),
    )
}

async fn listed(app: &TestApp, auth: &Auth) -> Value {
    let res = app.call(Method::GET, "/auth/tokens", auth, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["data"].clone()
}

async fn status(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: &Auth,
    body: Option<Value>,
) -> u16 {
    app.call(method, path, auth, body).await.status.as_u16()
}

fn secret_of(auth: &Auth) -> String {
    match auth {
        Auth::Bearer(t) => t.rsplit('.').next().expect("secret").to_owned(),
        _ => panic!("not a bearer token"),
    }
}

#[tokio::test]
async fn a_personal_token_acts_as_its_user_and_is_listed_without_its_secret() {
    let app = spawn_app().await;
    let (admin, group, user) = app.seed_team().await;
    let task = app.seed_task(user.id, group, "mine").await;
    let (bearer, id) = token(&app, &user, json!({"name": "  nightly report  "})).await;
    let mine = format!("/users/{}/tasks/{task}", user.id);

    assert_eq!(status(&app, Method::GET, &mine, &bearer, None).await, 200);
    let me = app.call(Method::GET, "/auth/me", &bearer, None).await;
    assert_eq!(me.json()["data"]["method"], "token", "{}", me.text());
    assert_eq!(me.json()["data"]["user"]["id"], user.id);
    // Exactly the user's permissions: its own data, nobody else's.
    let admins = format!("/users/{}", admin.id);
    assert_eq!(status(&app, Method::GET, &admins, &bearer, None).await, 403);
    assert_eq!(
        status(&app, Method::GET, "/users", &bearer, None).await,
        403
    );
    let done = format!("{mine}/done");
    assert_eq!(status(&app, Method::PUT, &done, &bearer, None).await, 200);

    let list = listed(&app, &user.auth()).await;
    assert_eq!(list["count"], 1, "{list}");
    let listed = &list["tokens"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["name"], "nightly report");
    assert_eq!(listed["read_only"], false);
    assert_eq!(listed["expires_at"], Value::Null);
    assert_eq!(listed["expired"], false);
    assert!(
        listed["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(!list.to_string().contains(&secret_of(&bearer)), "{list}");
    // Its use was marked (once, in the background).
    let used = eventually(Duration::from_secs(5), || async {
        let list = self::listed(&app, &user.auth()).await;
        list["tokens"][0]["last_used_at"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert!(used.is_some(), "last_used_at never set");
    // Other users see none of it.
    assert_eq!(listed_count(&app, &admin.auth()).await, 0);
}

async fn listed_count(app: &TestApp, auth: &Auth) -> u64 {
    listed(app, auth).await["count"].as_u64().expect("count")
}

#[tokio::test]
async fn a_read_only_token_reads_and_every_write_is_403_never_401() {
    let app = spawn_app().await;
    let (_, group, user) = app.seed_team().await;
    let task = app.seed_task(user.id, group, "mine").await;
    let (ro, id) = token(&app, &user, json!({"name": "dashboard", "read_only": true})).await;
    let me = format!("/users/{}", user.id);
    let mine = format!("{me}/tasks/{task}");
    assert_eq!(status(&app, Method::GET, &mine, &ro, None).await, 200);
    assert_eq!(
        status(&app, Method::GET, "/auth/tokens", &ro, None).await,
        200
    );
    let writes: [(Method, String, Option<Value>); 6] = [
        (Method::PUT, format!("{mine}/done"), None),
        (Method::PUT, mine.clone(), Some(json!({"title": "x"}))),
        (Method::DELETE, mine.clone(), None),
        (Method::PUT, me.clone(), Some(json!({"full_name": "x"}))),
        (Method::POST, "/auth/logout?all=true".into(), None),
        (Method::DELETE, format!("/auth/tokens/{id}"), None),
    ];
    for (method, path, body) in writes {
        let res = app.call(method.clone(), &path, &ro, body).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            res.text()
        );
        assert!(res.text().contains("read-only"), "{}", res.text());
    }
    // Nothing changed.
    let res = app.call(Method::GET, &mine, &user.auth(), None).await;
    assert_eq!(res.json()["data"]["status"], false);
    assert_eq!(listed_count(&app, &user.auth()).await, 1);
}

#[tokio::test]
async fn an_expired_token_opens_nothing_and_is_listed_as_expired() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let (short, _) = token(&app, &user, json!({"name": "brief", "expires_in": 1})).await;
    let me = format!("/users/{}", user.id);
    assert_eq!(status(&app, Method::GET, &me, &short, None).await, 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(status(&app, Method::GET, &me, &short, None).await, 401);
    let list = listed(&app, &user.auth()).await;
    assert_eq!(list["tokens"][0]["expired"], true, "{list}");
    assert!(list["tokens"][0]["expires_at"].is_string());
}

#[tokio::test]
async fn a_revoked_token_fails_at_once_on_every_instance() {
    let app = spawn_app().await;
    let other = app.restart_same_prefix().await;
    let user = app.seed_user("user", &[]).await;
    let (bearer, id) = token(&app, &user, json!({"name": "ci"})).await;
    let me = format!("/users/{}", user.id);
    assert_eq!(status(&other, Method::GET, &me, &bearer, None).await, 200);
    let path = format!("/auth/tokens/{id}");
    assert_eq!(
        status(&app, Method::DELETE, &path, &user.auth(), None).await,
        204
    );
    assert_eq!(status(&other, Method::GET, &me, &bearer, None).await, 401);
    assert_eq!(
        status(&app, Method::GET, "/auth/me", &bearer, None).await,
        401
    );
    // Gone is gone: a second revoke, and ids that cannot exist, are 404.
    for path in [path.as_str(), "/auth/tokens/short", "/auth/tokens/%00%00"] {
        assert_eq!(
            status(&app, Method::DELETE, path, &user.auth(), None).await,
            404,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_password_or_role_change_revokes_the_users_tokens() {
    let app = spawn_app().await;
    let (_, group, user) = app.seed_team().await;
    let other = app.seed_user("user", &[group]).await;
    let me = format!("/users/{}", user.id);
    let theirs = format!("/users/{}", other.id);

    let (bearer, _) = token(&app, &user, json!({"name": "a"})).await;
    let (kept, _) = token(&app, &other, json!({"name": "b"})).await;
    let res = app
        .call(
            Method::PUT,
            &me,
            &user.auth(),
            Some(json!({"password": "another-secret"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(status(&app, Method::GET, &me, &bearer, None).await, 401);
    let user = Seeded {
        password: "another-secret".into(),
        ..user
    };
    assert_eq!(listed_count(&app, &user.auth()).await, 0);
    // Another user's tokens are untouched.
    assert_eq!(status(&app, Method::GET, &theirs, &kept, None).await, 200);

    let (bearer, _) = token(&app, &user, json!({"name": "c"})).await;
    let res = app
        .call(
            Method::PUT,
            &me,
            &Auth::Owner,
            Some(json!({"role": "group_admin"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(status(&app, Method::GET, &me, &bearer, None).await, 401);
    assert_eq!(listed_count(&app, &user.auth()).await, 0);
}

#[tokio::test]
async fn tokens_are_made_with_a_password_or_a_session_and_never_with_another_token() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let session = app.bearer(&user).await;
    let (status_code, answer) = make(&app, &session, json!({"name": "from a session"})).await;
    assert_eq!(status_code, StatusCode::CREATED, "{answer}");
    let (bearer, _) = token(&app, &user, json!({"name": "first"})).await;
    let (status_code, answer) = make(&app, &bearer, json!({"name": "second"})).await;
    assert_eq!(status_code, StatusCode::FORBIDDEN, "{answer}");
    let (status_code, answer) = make(&app, &Auth::Owner, json!({"name": "owner"})).await;
    assert_eq!(status_code, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(listed_count(&app, &user.auth()).await, 2);
}

#[tokio::test]
async fn bad_token_requests_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let auth = user.auth();
    // (body, status, field named)
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({}), 422, "name"),
        (json!({"name": "   "}), 422, "name"),
        (json!({"name": "x".repeat(101)}), 422, "name"),
        (json!({"name": "line\nbreak"}), 422, "name"),
        (json!({"name": "ok", "expires_in": 0}), 422, "expires_in"),
        (json!({"name": "ok", "expires_in": -5}), 422, "expires_in"),
        (
            json!({"name": "ok", "expires_in": 400_000_000}),
            422,
            "expires_in",
        ),
        (json!({"name": "ok", "expires_in": "soon"}), 400, ""),
        (json!({"name": "ok", "read_only": "yes"}), 400, ""),
        (json!({"name": 5}), 400, ""),
        (json!([1, 2]), 400, ""),
    ];
    for (body, want, field) in cases {
        let (got, answer) = make(&app, &auth, body.clone()).await;
        assert_eq!(got.as_u16(), want, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(field)),
            "{body}: {answer}"
        );
    }
    // Hostile but valid names are kept as sent.
    let name = "<script>alert(1)</script> ☃ 'quoted' \"double\"";
    let (bearer, _) = token(&app, &user, json!({"name": name})).await;
    assert_eq!(listed(&app, &bearer).await["tokens"][0]["name"], name);
    assert_eq!(listed_count(&app, &auth).await, 1);
}

#[tokio::test]
async fn a_user_holds_at_most_fifty_tokens_even_when_made_in_parallel() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let auth = user.auth();
    let attempts = (0..60).map(|i| make(&app, &auth, json!({"name": format!("t{i}")})));
    let answers = futures_util::future::join_all(attempts).await;
    let made = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::CREATED)
        .collect();
    assert_eq!(made, 50);
    assert!(
        refused.iter().all(|(s, _)| *s == StatusCode::CONFLICT),
        "{refused:?}"
    );
    assert_eq!(listed_count(&app, &auth).await, 50);
}

#[tokio::test]
async fn a_deactivated_user_cannot_sign_in_by_any_method_until_reactivated() {
    let app = spawn_app().await;
    let (admin, group, user) = app.seed_team().await;
    let task = app.seed_task(user.id, group, "kept").await;
    let me = format!("/users/{}", user.id);
    let mine = format!("{me}/tasks/{task}");
    let session = app.bearer(&user).await;
    let (bearer, _) = token(&app, &user, json!({"name": "ci"})).await;
    // The Basic credential is remembered by now.
    assert_eq!(
        status(&app, Method::GET, &mine, &user.auth(), None).await,
        200
    );

    // Its group admin deactivates it.
    let res = app
        .call(
            Method::PUT,
            &me,
            &admin.auth(),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["user"]["active"], false);
    for auth in [&user.auth(), &session, &bearer] {
        let code = status(&app, Method::GET, &mine, auth, None).await;
        assert!(code == 401 || code == 403, "{code}");
        assert_eq!(
            status(&app, Method::GET, "/auth/me", auth, None).await / 100,
            4
        );
    }
    let login = app
        .call(
            Method::POST,
            "/auth/login",
            &Auth::None,
            Some(json!({"login": user.email, "password": user.password})),
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN, "{}", login.text());
    assert!(login.text().contains("deactivated"));
    let wrong = app
        .call(
            Method::POST,
            "/auth/login",
            &Auth::None,
            Some(json!({"login": user.email, "password": "not-it"})),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "a guesser learns nothing"
    );
    // Its data stays, and others still see it.
    let res = app.call(Method::GET, &mine, &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app.call(Method::GET, &me, &admin.auth(), None).await;
    assert_eq!(res.json()["data"]["active"], false);

    // The owner brings it back: its password and token work again; the
    // session ended with the deactivation stays ended.
    let res = app
        .call(
            Method::PUT,
            &me,
            &Auth::Owner,
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["user"]["active"], true);
    assert_eq!(
        status(&app, Method::GET, &mine, &user.auth(), None).await,
        200
    );
    assert_eq!(status(&app, Method::GET, &mine, &bearer, None).await, 200);
    assert_eq!(status(&app, Method::GET, &mine, &session, None).await, 401);
    assert_eq!(
        status(&app, Method::GET, &mine, &app.bearer(&user).await, None).await,
        200
    );
}

#[tokio::test]
async fn tokens_and_deactivation_survive_a_flush_a_redis_wipe_a_restore_and_a_backup() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, pg) = syncd_for(&app, &dir).await;
    let (_, group, user) = app.seed_team().await;
    let sleeper = app.seed_user("user", &[group]).await;
    let task = app.seed_task(user.id, group, "mine").await;
    let mine = format!("/users/{}/tasks/{task}", user.id);
    let (full, _) = token(&app, &user, json!({"name": "deploy"})).await;
    let (ro, _) = token(
        &app,
        &user,
        json!({"name": "read", "read_only": true, "expires_in": 86_400}),
    )
    .await;
    let (gone, gone_id) = token(&app, &user, json!({"name": "revoked"})).await;
    assert_eq!(status(&app, Method::GET, &mine, &full, None).await, 200);
    let path = format!("/auth/tokens/{gone_id}");
    assert_eq!(
        status(&app, Method::DELETE, &path, &user.auth(), None).await,
        204
    );
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", sleeper.id),
            &Auth::Owner,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // Wait for the last use to be marked, so that it is flushed too.
    eventually(Duration::from_secs(5), || async {
        let list = listed(&app, &user.auth()).await;
        list["tokens"]
            .as_array()?
            .iter()
            .any(|t| t["last_used_at"].is_string())
            .then_some(())
    })
    .await
    .expect("use marked");
    let before = listed(&app, &user.auth()).await;
    assert_eq!(before["count"], 2, "{before}");

    assert_eq!(
        admin_sync(&app, "action=force").await.status,
        StatusCode::OK
    );
    let rows = pg
        .query("SELECT name, read_only, secret_hash, expires_at IS NOT NULL, last_used_at IS NOT NULL FROM api_tokens ORDER BY name", &[])
        .await
        .expect("tokens");
    let got: Vec<(String, bool, bool, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("deploy".into(), false, false, true),
            ("read".into(), true, true, false)
        ]
    );
    for r in &rows {
        let digest: String = r.get(2);
        assert_eq!(digest.len(), 64);
        assert!(![&full, &ro, &gone].iter().any(|t| secret_of(t) == digest));
    }
    let active: bool = pg
        .query_one(
            "SELECT active FROM users WHERE id = $1",
            &[&(sleeper.id as i64)],
        )
        .await
        .expect("sleeper")
        .get(0);
    assert!(!active);
    crate::sync::assert_same(&app, &pg).await;

    // Redis loses everything under the prefix; a restore rebuilds it.
    let mut redis = app.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.keys.prefix()))
        .query_async(&mut redis)
        .await
        .expect("keys");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .expect("wipe");
    assert_eq!(status(&app, Method::GET, &mine, &full, None).await, 401);
    // syncd's heartbeat went with the wipe; the restore is answered once
    // it is back.
    let res = eventually(Duration::from_secs(20), || async {
        let res = admin_sync(&app, "action=restore").await;
        (res.status != StatusCode::SERVICE_UNAVAILABLE).then_some(res)
    })
    .await
    .expect("syncd answers again");
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["loaded"]["tokens"], 2, "{}", res.text());
    let seen = Seen {
        full: &full,
        ro: &ro,
        gone: &gone,
        before: &before,
        user: &user,
        sleeper: &sleeper,
        mine: &mine,
    };
    seen.check(&app).await;

    // And from a backup, into a new system.
    let res = admin_sync(&app, "action=backup").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        res.json()["data"]["rows"]["api_tokens"],
        2,
        "{}",
        res.text()
    );
    let file = res.json()["data"]["file"]
        .as_str()
        .expect("file")
        .to_owned();
    let fresh = spawn_app().await;
    let (_fresh_syncd, _) = syncd_for(&fresh, &dir).await;
    let res = admin_sync(&fresh, &format!("action=restore&from={file}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    seen.check(&fresh).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a restored system must show of the tokens and the deactivation.
struct Seen<'a> {
    full: &'a Auth,
    ro: &'a Auth,
    gone: &'a Auth,
    before: &'a Value,
    user: &'a Seeded,
    sleeper: &'a Seeded,
    mine: &'a str,
}

impl Seen<'_> {
    async fn check(&self, app: &TestApp) {
        // Listed first: a use below marks the token used.
        let after = listed(app, &self.user.auth()).await;
        let mine = self.mine;
        assert_eq!(status(app, Method::GET, mine, self.full, None).await, 200);
        assert_eq!(status(app, Method::GET, mine, self.ro, None).await, 200);
        let done = format!("{mine}/done");
        assert_eq!(status(app, Method::PUT, &done, self.ro, None).await, 403);
        assert_eq!(status(app, Method::GET, mine, self.gone, None).await, 401);
        let strip = |v: &Value| {
            let mut v = v.clone();
            for t in v["tokens"].as_array_mut().expect("tokens") {
                // Uses are marked as they come (the checks below are uses
                // too); PostgreSQL's copy of them is checked above.
                t["last_used_at"] = Value::Null;
            }
            v
        };
        assert_eq!(strip(&after), strip(self.before));
        let me = format!("/users/{}", self.sleeper.id);
        assert_eq!(
            status(app, Method::GET, &me, &self.sleeper.auth(), None).await,
            403
        );
        let res = app.call(Method::GET, &me, &Auth::Owner, None).await;
        assert_eq!(res.json()["data"]["active"], false);
    }
}
