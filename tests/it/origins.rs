//! Cross-site requests (CSRF) and CORS, with the headers real browsers
//! send (issue 17 item 5).

use hyper::{Method, StatusCode};
use taskmaster_tests::{OWNER_PASSWORD, TestApp, TestResponse, shared, spawn_app, spawn_app_with};

/// `POST /users` with `headers` and a body that is JSON in all but its
/// content type, as a cross-site form (`enctype="text/plain"`) can send it.
async fn create_user(app: &TestApp, headers: &[(&str, &str)]) -> TestResponse {
    let n = taskmaster_tests::unique();
    let body = format!(
        r#"{{"full_name":"Form {n}","email":"form{n}@example.com","password":"secret123","role":"user"}}"#
    );
    let mut all = vec![("x-owner-password", OWNER_PASSWORD)];
    all.extend_from_slice(headers);
    app.request(Method::POST, "/users", &all, body).await
}

async fn user_count(app: &TestApp) -> usize {
    let res = app
        .request(
            Method::GET,
            "/users",
            &[("x-owner-password", OWNER_PASSWORD)],
            "",
        )
        .await;
    res.json()["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let before = user_count(&app).await;
    // What Chromium sends for a form on another site posting here.
    let form = [
        ("content-type", "text/plain"),
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "document"),
    ];
    let res = create_user(&app, &form).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    assert!(
        res.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("Cross-site")),
        "{}",
        res.text()
    );
    // A restore needs no body at all: refused the same way.
    let res = app
        .request(
            Method::POST,
            "/admin/sync?action=restore",
            &[
                ("x-owner-password", OWNER_PASSWORD),
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
            "",
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    // Sandboxed frames send `Origin: null`; older browsers only Sec-Fetch-Site.
    for headers in [
        &[("origin", "null")][..],
        &[("sec-fetch-site", "cross-site")][..],
    ] {
        let res = create_user(&app, headers).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{headers:?}: {}",
            res.text()
        );
    }
    assert_eq!(user_count(&app).await, before);
}

#[tokio::test]
async fn same_origin_fetches_and_clients_without_browser_headers_pass() {
    let app = spawn_app().await;
    let own = format!("http://{}", app.addr);
    // What Chromium sends for a same-origin fetch() with a JSON body.
    let fetch = [
        ("content-type", "application/json"),
        ("origin", own.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-dest", "empty"),
    ];
    let res = create_user(&app, &fetch).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    // curl -d: no JSON content type, no browser headers, as the reference's
    // clients send.
    let res = create_user(
        &app,
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    // A user typing the address (Sec-Fetch-Site: none) and reads from
    // anywhere pass too.
    let res = create_user(&app, &[("sec-fetch-site", "none")]).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let res = app
        .request(
            Method::GET,
            "/users",
            &[
                ("x-owner-password", OWNER_PASSWORD),
                ("origin", "https://elsewhere.example"),
                ("sec-fetch-site", "cross-site"),
            ],
            "",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // The reference's CORS answer, for requests without credentials.
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(res.header("access-control-allow-credentials"), None);
}

#[tokio::test]
async fn listed_origins_may_call_with_credentials_and_others_get_no_cors_grant() {
    let shared = shared().await;
    let app = spawn_app_with(
        shared.redis.port,
        &[("CORS_ORIGINS", "https://app.example, http://localhost:3000")],
    )
    .await;
    let listed = [
        ("content-type", "application/json"),
        ("origin", "https://app.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "cors"),
    ];
    let res = create_user(&app, &listed).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(res.header("vary"), Some("Origin"));
    // The preflight a browser sends first gets the same grant.
    let res = app
        .request(
            Method::OPTIONS,
            "/users",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
            "",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // A page may send the conditional and idempotent headers, and read
    // the paging, tag and replay headers of the answers.
    let allowed = res
        .header("access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    for name in [
        "if-match",
        "if-none-match",
        "idempotency-key",
        "x-csrf-token",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    let exposed = res
        .header("access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    for name in [
        "link",
        "x-total-count",
        "etag",
        "x-request-id",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(name), "{name} not in {exposed}");
    }
    // An origin not listed: refused for writes, no grant on reads.
    let other = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    assert_eq!(
        create_user(&app, &other).await.status,
        StatusCode::FORBIDDEN
    );
    let mut read = vec![("x-owner-password", OWNER_PASSWORD)];
    read.extend_from_slice(&other);
    let res = app.request(Method::GET, "/users", &read, "").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("access-control-allow-origin"), None);
}
