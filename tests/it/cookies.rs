//! Cookie sessions for browser clients (issue 19): `POST /auth/login
//! ?cookie=true`, HTTP-only `SameSite=Lax` cookies, and the CSRF token
//! every state-changing request authenticated by cookie must repeat.

use std::collections::HashMap;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, Seeded, TestApp, TestResponse, spawn_app, spawn_app_with};

/// The cookies an answer sets: name → (value, attributes).
fn set_cookies(res: &TestResponse) -> HashMap<String, (String, String)> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| {
            let (pair, attributes) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), (value.to_owned(), attributes.to_owned())))
        })
        .collect()
}

/// A browser's view of a session: its cookies and its CSRF token.
struct Browser {
    access: String,
    refresh: String,
    csrf: String,
}

impl Browser {
    fn from(res: &TestResponse) -> Browser {
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let cookies = set_cookies(res);
        let csrf = res.json()["data"]["csrf_token"]
            .as_str()
            .expect("csrf")
            .to_owned();
        assert_eq!(
            cookies["tm_csrf"].0, csrf,
            "the readable cookie holds it too"
        );
        Browser {
            access: cookies["tm_access"].0.clone(),
            refresh: cookies["tm_refresh"].0.clone(),
            csrf,
        }
    }

    fn cookie_header(&self) -> String {
        format!(
            "tm_access={}; tm_refresh={}; tm_csrf={}",
            self.access, self.refresh, self.csrf
        )
    }

    async fn send(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let cookie = self.cookie_header();
        let mut headers = vec![
            ("cookie", cookie.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(token) = csrf {
            headers.push(("x-csrf-token", token));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        app.request(method, path, &headers, body).await
    }
}

async fn login(app: &TestApp, user: &Seeded, query: &str) -> TestResponse {
    app.call(
        Method::POST,
        &format!("/auth/login{query}"),
        &Auth::None,
        Some(json!({"login": user.id, "password": user.password})),
    )
    .await
}

#[tokio::test]
async fn a_cookie_login_sets_http_only_lax_cookies_and_answers_no_token() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let res = login(&app, &user, "?cookie=true").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let data = &res.json()["data"];
    assert!(data.get("access_token").is_none() && data.get("refresh_token").is_none());
    assert_eq!(data["token_type"], "cookie");
    assert_eq!(data["user"]["id"], user.id);
    let cookies = set_cookies(&res);
    for name in ["tm_access", "tm_refresh", "tm_csrf"] {
        let attributes = &cookies[name].1;
        assert!(
            attributes.contains("SameSite=Lax") && attributes.contains("Path=/"),
            "{name}: {attributes}"
        );
        assert_eq!(
            attributes.contains("HttpOnly"),
            name != "tm_csrf",
            "{name}: {attributes}"
        );
        assert!(
            !attributes.contains("Secure"),
            "not over plain HTTP in development"
        );
    }
    assert!(cookies["tm_access"].1.contains("Max-Age=900"));

    let secure = app.restart_with(&[("COOKIE_SECURE", "true")]).await;
    let cookies = set_cookies(&login(&secure, &user, "?cookie=true").await);
    assert!(cookies.values().all(|(_, a)| a.contains("Secure")));
    // Asked for by default, or not at all.
    let by_default = app.restart_with(&[("SESSION_COOKIES", "true")]).await;
    assert_eq!(set_cookies(&login(&by_default, &user, "").await).len(), 3);
    let tokens = login(&by_default, &user, "?cookie=false").await;
    assert!(tokens.json()["data"]["access_token"].is_string());
    assert!(set_cookies(&tokens).is_empty());
    assert_eq!(
        login(&app, &user, "?cookie=yes").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn writes_by_cookie_need_the_sessions_csrf_token_and_reads_do_not() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[group]).await;
    let other = app.seed_user("user", &[group]).await;
    let browser = Browser::from(&login(&app, &user, "?cookie=true").await);
    let stranger = Browser::from(&login(&app, &other, "?cookie=true").await);
    let tasks = format!("/users/{}/tasks", user.id);

    let read = browser.send(&app, Method::GET, &tasks, None, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    let me = browser
        .send(&app, Method::GET, "/auth/me", None, None)
        .await;
    assert_eq!(me.json()["data"]["method"], "cookie");

    let body = || Some(json!({"title": "By cookie", "group_id": group}));
    // (CSRF token sent, status)
    let cases = [
        (None, StatusCode::FORBIDDEN),
        (Some("not-the-token"), StatusCode::FORBIDDEN),
        (Some(stranger.csrf.as_str()), StatusCode::FORBIDDEN),
        (Some(browser.csrf.as_str()), StatusCode::CREATED),
    ];
    for (csrf, status) in cases {
        let res = browser.send(&app, Method::POST, &tasks, csrf, body()).await;
        assert_eq!(res.status, status, "{csrf:?}: {}", res.text());
    }
    let list = app.call(Method::GET, &tasks, &Auth::Owner, None).await;
    assert_eq!(
        list.json()["data"]["count"],
        1,
        "only the write with the token happened"
    );
    // A bearer header is used instead of the cookie, without a CSRF token
    // (a page cannot set it on another site's request).
    let tokens = login(&app, &user, "").await;
    let bearer = tokens.json()["data"]["access_token"]
        .as_str()
        .expect("t")
        .to_owned();
    let auth = format!("Bearer {bearer}");
    let cookie = stranger.cookie_header();
    let res = app
        .request(
            Method::POST,
            &tasks,
            &[
                ("authorization", auth.as_str()),
                ("cookie", cookie.as_str()),
            ],
            json!({"title": "By token", "group_id": group}).to_string(),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
}

#[tokio::test]
async fn a_cookie_session_refreshes_and_logs_out_by_cookie() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let mine = format!("/users/{}", user.id);
    let first = Browser::from(&login(&app, &user, "?cookie=true").await);
    let refused = first
        .send(&app, Method::POST, "/auth/refresh", None, None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let renewed = first
        .send(&app, Method::POST, "/auth/refresh", Some(&first.csrf), None)
        .await;
    let second = Browser::from(&renewed);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(
        second.csrf, first.csrf,
        "the CSRF token lives as long as the session"
    );
    assert_eq!(
        second
            .send(&app, Method::GET, &mine, None, None)
            .await
            .status,
        StatusCode::OK
    );

    let out = second
        .send(&app, Method::POST, "/auth/logout", Some(&second.csrf), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = set_cookies(&out);
    assert_eq!(cleared.len(), 3);
    assert!(
        cleared
            .values()
            .all(|(v, a)| v.is_empty() && a.contains("Max-Age=0"))
    );
    assert_eq!(
        second
            .send(&app, Method::GET, &mine, None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let again = second
        .send(
            &app,
            Method::POST,
            "/auth/refresh",
            Some(&second.csrf),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cross_site_page_cannot_use_the_cookie_even_with_a_guessed_header() {
    let app = spawn_app_with(taskmaster_tests::shared().await.redis.port, &[]).await;
    let user = app.seed_user("user", &[]).await;
    let browser = Browser::from(&login(&app, &user, "?cookie=true").await);
    let cookie = browser.cookie_header();
    let res = app
        .request(
            Method::DELETE,
            &format!("/users/{}", user.id),
            &[
                ("cookie", cookie.as_str()),
                ("x-csrf-token", browser.csrf.as_str()),
                ("origin", "https://evil.example"),
            ],
            "",
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::FORBIDDEN,
        "the edge refuses it by its origin"
    );
}

#[tokio::test]
async fn a_browser_signed_in_by_cookie_follows_the_feed_from_its_own_pages_only() {
    let app = spawn_app().await;
    let (_, g, user) = app.seed_team().await;
    let browser = Browser::from(&login(&app, &user, "?cookie=true").await);
    let cookie = browser.cookie_header();
    let own = format!("http://{}", app.addr);
    let mut ws = match app
        .ws_handshake("", &Auth::None, &[("cookie", &cookie), ("origin", &own)])
        .await
    {
        taskmaster_tests::feed::Handshake::Open(ws) => ws,
        taskmaster_tests::feed::Handshake::Refused(status, body) => {
            panic!("the api's own page was refused: {status} {body}")
        }
    };
    app.seed_task(user.id, g, "by cookie").await;
    assert_eq!(ws.next().await["type"], "task_created");
    // Another site's page gets nothing, though the browser sends the cookie.
    match app
        .ws_handshake(
            "",
            &Auth::None,
            &[("cookie", &cookie), ("origin", "https://evil.example")],
        )
        .await
    {
        taskmaster_tests::feed::Handshake::Refused(status, _) => assert_eq!(status, 403),
        taskmaster_tests::feed::Handshake::Open(_) => panic!("a foreign page followed the feed"),
    }
}
