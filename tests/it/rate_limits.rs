//! Rate limits (issue 19): per principal, counted in Redis (GCRA) so that
//! they hold across instances, with the `RateLimit-*` headers; the
//! stricter per-address limit of the account endpoints.

use std::time::Duration;

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, TestApp, TestResponse, spawn_app_with};

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with(taskmaster_tests::shared().await.redis.port, extra).await
}

fn header_u64(res: &TestResponse, name: &str) -> u64 {
    res.header(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing or not a number: {:?}", res.headers))
}

fn assert_refused(res: &TestResponse) {
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.text());
    assert_eq!(res.json()["success"], false);
    assert!(header_u64(res, "retry-after") >= 1);
    assert_eq!(header_u64(res, "ratelimit-remaining"), 0);
    assert_eq!(header_u64(res, "x-ratelimit-remaining"), 0);
}

const FIVE_A_MINUTE: [(&str, &str); 2] =
    [("RATE_LIMIT_PER_MINUTE", "60"), ("RATE_LIMIT_BURST", "5")];

#[tokio::test]
async fn a_user_gets_exactly_its_burst_across_two_instances_then_429_with_retry_after() {
    let a = app_with(&FIVE_A_MINUTE).await;
    let b = a.restart_with(&FIVE_A_MINUTE).await;
    let user = a.seed_user("user", &[]).await;
    let path = format!("/users/{}", user.id);
    for (i, app) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let res = app.call(Method::GET, &path, &user.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "request {i}: {}", res.text());
        assert_eq!(header_u64(&res, "ratelimit-limit"), 5);
        assert_eq!(header_u64(&res, "x-ratelimit-limit"), 5);
        assert_eq!(header_u64(&res, "ratelimit-remaining"), 4 - i as u64);
        assert!((1..=6).contains(&header_u64(&res, "ratelimit-reset")));
    }
    assert_refused(&b.call(Method::GET, &path, &user.auth(), None).await);
    // However it authenticates, it is the same user's budget.
    let bearer = a.bearer(&user).await;
    assert_refused(&a.call(Method::GET, &path, &bearer, None).await);
    // Others have budgets of their own.
    let other = a.seed_user("user", &[]).await;
    let res = b
        .call(
            Method::GET,
            &format!("/users/{}", other.id),
            &other.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    // One interval later (a second at 60 a minute), one more goes through.
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let res = a.call(Method::GET, &path, &user.auth(), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(header_u64(&res, "ratelimit-remaining"), 0);
    b.stop().await;
}

#[tokio::test]
async fn a_parallel_flood_lets_exactly_the_burst_through() {
    let app = app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "10")]).await;
    let user = app.seed_user("user", &[]).await;
    let path = format!("/users/{}", user.id);
    let auth = user.auth();
    let answers = join_all((0..60).map(|_| app.call(Method::GET, &path, &auth, None))).await;
    let ok = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 10, "exactly the burst");
    answers
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .for_each(assert_refused);
}

#[tokio::test]
async fn creates_are_counted_in_their_own_script_and_a_refused_one_writes_nothing() {
    let app = app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "4")]).await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[group]).await;
    let tasks = format!("/users/{}/tasks", user.id);
    // The first request verifies the password (remembered from then on,
    // so the creates take the one-round-trip path).
    let first = app.call(Method::GET, &tasks, &user.auth(), None).await;
    assert_eq!(first.status, StatusCode::OK);
    let mut created = 0;
    for i in 0..6 {
        let res = app
            .call(
                Method::POST,
                &tasks,
                &user.auth(),
                Some(json!({"title": format!("t{i}"), "group_id": group})),
            )
            .await;
        if i < 3 {
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
            assert_eq!(header_u64(&res, "ratelimit-remaining"), 2 - i as u64);
            created += 1;
        } else {
            assert_refused(&res);
        }
    }
    let list = app.call(Method::GET, &tasks, &Auth::Owner, None).await;
    assert_eq!(list.json()["data"]["count"], created, "{}", list.text());
}

#[tokio::test]
async fn the_account_endpoints_have_a_stricter_limit_per_client_address() {
    let app = app_with(&[
        ("RATE_LIMIT_AUTH_PER_MINUTE", "60"),
        ("RATE_LIMIT_AUTH_BURST", "3"),
        ("REGISTRATION", "open"),
    ])
    .await;
    let user = app.seed_user("user", &[]).await;
    let login = |password: &str| {
        app.call(
            Method::POST,
            "/auth/login",
            &Auth::None,
            Some(json!({"login": user.email, "password": password})),
        )
    };
    let tokens = login(&user.password).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let refresh_token = tokens.json()["data"]["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    assert_eq!(login("wrong").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_u64(&login("wrong").await, "ratelimit-remaining"), 0);
    // Over: refused before the password is looked at, right or wrong.
    assert_refused(&login(&user.password).await);
    let register = app
        .call(
            Method::POST,
            "/auth/register",
            &Auth::None,
            Some(json!({"email": "late@example.com", "password": "long-enough", "full_name": "L"})),
        )
        .await;
    assert_refused(&register);
    let refresh = |token: String| {
        app.call(
            Method::POST,
            "/auth/refresh",
            &Auth::None,
            Some(json!({"refresh_token": token})),
        )
    };
    assert_refused(&refresh(refresh_token.clone()).await);
    // A refused refresh rotated nothing: the same token works once the
    // address has room again (a second at 60 a minute).
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let renewed = refresh(refresh_token).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text());
}

#[tokio::test]
async fn a_rate_of_zero_turns_the_limit_off() {
    let app = app_with(&[("RATE_LIMIT_PER_MINUTE", "0"), ("RATE_LIMIT_BURST", "1")]).await;
    let user = app.seed_user("user", &[]).await;
    let path = format!("/users/{}", user.id);
    for _ in 0..5 {
        let res = app.call(Method::GET, &path, &user.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.header("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn the_owner_header_counts_against_the_owner() {
    let app = app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "3")]).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            app.call(Method::GET, "/users", &Auth::Owner, None)
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn a_personal_token_has_a_budget_of_its_own_apart_from_its_users() {
    let app = app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "3")]).await;
    let user = app.seed_user("user", &[]).await;
    // Made before the user's budget is spent (the making counts against it).
    let (token, _) = app.api_token(&user, true).await;
    let path = format!("/users/{}", user.id);
    for want in [1, 0] {
        let res = app.call(Method::GET, &path, &user.auth(), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(header_u64(&res, "ratelimit-remaining"), want);
    }
    assert_refused(&app.call(Method::GET, &path, &user.auth(), None).await);
    // The script's token still has its whole burst, then is refused too.
    for want in [2, 1, 0] {
        let res = app.call(Method::GET, &path, &token, None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(header_u64(&res, "ratelimit-remaining"), want);
    }
    assert_refused(&app.call(Method::GET, &path, &token, None).await);
}
