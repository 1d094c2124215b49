//! The api's Prometheus metrics (issue 25): each moves when its event
//! happens, the exposition parses with a real parser, and `/metrics` is
//! refused to callers it is not for.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::metrics::{Metrics, fetch};
use taskmaster_tests::{Auth, TestApp, spawn_app, spawn_app_with};

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with(taskmaster_tests::shared().await.redis.port, extra).await
}

const REQUESTS: &str = "taskmaster_http_requests_total";
const LATENCY: &str = "taskmaster_http_request_duration_seconds";

#[tokio::test]
async fn every_metric_the_issue_names_is_exposed_with_its_kind_and_help() {
    let app = spawn_app().await;
    app.get("/health").await;
    let m = app.scrape().await;
    let table = [
        (REQUESTS, "counter"),
        (LATENCY, "histogram"),
        ("taskmaster_http_requests_in_flight", "gauge"),
        ("taskmaster_http_connections", "gauge"),
        ("taskmaster_redis_duration_seconds", "histogram"),
        ("taskmaster_build_info", "gauge"),
    ];
    for (name, kind) in table {
        let (found, help) = m
            .family(name)
            .unwrap_or_else(|| panic!("{name} missing:\n{}", m.text));
        assert_eq!(found, kind, "{name}");
        assert!(!help.is_empty(), "{name} has no HELP line:\n{}", m.text);
    }
    assert_eq!(
        m.value(
            "taskmaster_build_info",
            &[("process", "api"), ("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // Nothing is labelled with a raw path: ids cannot grow the label set.
    let routes = m.label_values("route");
    assert!(routes.iter().any(|r| r == "/health"), "{routes:?}");
    for route in routes {
        assert!(
            route == "(unmatched)" || !route.chars().any(|c| c.is_ascii_digit()),
            "{route}"
        );
    }
}

#[tokio::test]
async fn a_request_moves_its_routes_counter_and_latency_histogram_and_nothing_else() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let labels = [
        ("route", "/users/{id}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let before = app.scrape().await;
    for _ in 0..3 {
        let res = app
            .call(
                Method::GET,
                &format!("/users/{}", user.id),
                &user.auth(),
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK);
    }
    // Through the versioned mount: the same route.
    let res = app
        .call(
            Method::GET,
            &format!("/api/v1/users/{}", user.id),
            &user.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let missing = app
        .call(Method::GET, "/users/99999999", &Auth::Owner, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    app.call(Method::GET, "/no/such/path", &Auth::Owner, None)
        .await;
    // Invented methods share one label value, however many there are.
    for i in 0..20 {
        let invented = Method::from_bytes(format!("BREW{i}").as_bytes()).expect("a method");
        app.request(invented, "/health", &[], "").await;
    }
    let after = app.scrape().await;
    assert_eq!(
        after.value(REQUESTS, &labels) - before.value(REQUESTS, &labels),
        4.0
    );
    let latency = [("route", "/users/{id}"), ("method", "GET")];
    assert_eq!(
        after.observations(LATENCY, &latency) - before.observations(LATENCY, &latency),
        5.0,
        "four 200s and a 404"
    );
    let not_found = [("route", "/users/{id}"), ("status", "404")];
    assert_eq!(
        after.value(REQUESTS, &not_found) - before.value(REQUESTS, &not_found),
        1.0
    );
    assert_eq!(
        after.value(REQUESTS, &[("route", "(unmatched)"), ("status", "404")]),
        1.0
    );
    assert_eq!(
        after.value(REQUESTS, &[("route", "/health"), ("method", "OTHER")]),
        20.0
    );
    assert!(!after.text.contains("BREW"), "{}", after.text);
    // Every request went to Redis at least once.
    assert!(
        after.observations("taskmaster_redis_duration_seconds", &[])
            > before.observations("taskmaster_redis_duration_seconds", &[])
    );
    // The scrape itself is in flight while it is rendered, on an open
    // connection.
    assert!(after.value("taskmaster_http_requests_in_flight", &[]) >= 1.0);
    assert!(after.value("taskmaster_http_connections", &[]) >= 1.0);
}

#[tokio::test]
async fn a_429_moves_the_rate_limit_counter_of_its_route() {
    let app = app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "2")]).await;
    let user = app.seed_user("user", &[]).await;
    let path = format!("/users/{}", user.id);
    let mut refused = 0;
    for _ in 0..5 {
        if app
            .call(Method::GET, &path, &user.auth(), None)
            .await
            .status
            == StatusCode::TOO_MANY_REQUESTS
        {
            refused += 1;
        }
    }
    assert!(refused >= 2, "{refused}");
    let m = app.scrape().await;
    assert_eq!(
        m.value("taskmaster_rate_limited_total", &[("route", "/users/{id}")]),
        f64::from(refused)
    );
    assert_eq!(
        m.value(REQUESTS, &[("route", "/users/{id}"), ("status", "429")]),
        f64::from(refused)
    );
}

#[tokio::test]
async fn a_wrong_password_moves_the_login_failure_counter() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let before = app.scrape().await;
    let failures = [
        json!({"login": user.email, "password": "not-it"}),
        json!({"login": "nobody@example.com", "password": "whatever"}),
    ];
    for body in failures {
        let res = app
            .call(Method::POST, "/auth/login", &Auth::None, Some(body))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    }
    // A wrong Basic credential on any endpoint is a failed login too.
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}", user.id),
            &Auth::Basic(user.id.to_string(), "wrong".into()),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let ok = app
        .call(
            Method::POST,
            "/auth/login",
            &Auth::None,
            Some(json!({"login": user.email, "password": user.password})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let after = app.scrape().await;
    let name = "taskmaster_login_failures_total";
    assert_eq!(after.value(name, &[]) - before.value(name, &[]), 3.0);
}

#[tokio::test]
async fn the_credential_and_list_caches_count_their_hits_and_misses() {
    let app = spawn_app().await;
    let (_, g, u) = app.seed_team().await;
    app.seed_task(u.id, g, "one").await;
    let lookups = "taskmaster_cache_lookups_total";
    let at = |m: &Metrics, cache: &str, result: &str| {
        m.value(lookups, &[("cache", cache), ("result", result)])
    };
    let before = app.scrape().await;
    let path = format!("/users/{}/tasks", u.id);
    for _ in 0..3 {
        let res = app.call(Method::GET, &path, &u.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK);
    }
    let after = app.scrape().await;
    // The first read of the list misses, the next two hit.
    assert_eq!(
        at(&after, "lists", "miss") - at(&before, "lists", "miss"),
        1.0
    );
    assert_eq!(
        at(&after, "lists", "hit") - at(&before, "lists", "hit"),
        2.0
    );
    // The user's first request verifies its password (a miss); the next
    // two find it verified.
    assert!(at(&after, "credentials", "miss") - at(&before, "credentials", "miss") >= 1.0);
    assert_eq!(
        at(&after, "credentials", "hit") - at(&before, "credentials", "hit"),
        2.0
    );
    // A change makes the next read miss again.
    app.seed_task(u.id, g, "two").await;
    app.call(Method::GET, &path, &u.auth(), None).await;
    let last = app.scrape().await;
    assert_eq!(
        at(&last, "lists", "miss") - at(&after, "lists", "miss"),
        1.0
    );
}

#[tokio::test]
async fn live_feed_connections_are_counted_while_open() {
    let app = spawn_app().await;
    let name = "taskmaster_feed_connections";
    assert_eq!(app.scrape().await.value(name, &[]), 0.0);
    let ws = app.ws("", &Auth::Owner).await;
    let sse = app.sse("", &Auth::Owner, &[]).await;
    assert_eq!(app.scrape().await.value(name, &[]), 2.0);
    ws.close().await;
    drop(sse);
    let closed = taskmaster_tests::eventually(Duration::from_secs(5), || async {
        (app.scrape().await.value(name, &[]) == 0.0).then_some(())
    })
    .await;
    assert!(closed.is_some(), "the gauge came back to 0");
}

#[tokio::test]
async fn metrics_are_refused_through_a_proxy_and_without_the_token_when_one_is_set() {
    // No token: this machine only, and not through a reverse proxy.
    let app = spawn_app().await;
    let (status, body) = fetch(app.addr, &[("X-Forwarded-For", "203.0.113.9")]).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("taskmaster_"), "{body}");
    let (status, _) = fetch(app.addr, &[("Forwarded", "for=203.0.113.9")]).await;
    assert_eq!(status, 403);
    // A token: whoever sends it, from anywhere, and nobody else.
    let token = "a-scraper-token-0123456789";
    let guarded = app_with(&[("METRICS_TOKEN", token)]).await;
    let bearer = format!("Bearer {token}");
    let table: [(&[(&str, &str)], u16); 5] = [
        (&[], 401),
        (&[("Authorization", "Bearer not-the-token-at-all")], 401),
        (&[("Authorization", "Basic YTpi")], 401),
        (&[("Authorization", &bearer)], 200),
        (
            &[
                ("Authorization", &bearer),
                ("X-Forwarded-For", "203.0.113.9"),
            ],
            200,
        ),
    ];
    let res = guarded.request(Method::GET, "/metrics", &[], "").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.header("www-authenticate"),
        Some("Bearer realm=\"taskmaster metrics\"")
    );
    for (headers, want) in table {
        let (status, body) = fetch(guarded.addr, headers).await;
        assert_eq!(status, want, "{headers:?}: {body}");
        assert_eq!(body.contains("taskmaster_http_requests_total"), want == 200);
    }
    // Off: there is nothing to scrape.
    let off = app_with(&[("METRICS", "off")]).await;
    let (status, _) = fetch(off.addr, &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn with_metrics_off_requests_are_still_answered_and_counted_for_the_status_page() {
    let app = app_with(&[("METRICS", "off")]).await;
    for _ in 0..3 {
        assert_eq!(app.get("/health").await.status, StatusCode::OK);
    }
    let res = app
        .call(Method::GET, "/status/data", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.json()["data"]["api"]["requests"].as_u64() >= Some(3));
}
