//! Guessing limits: login attempts per account, counted in Redis before
//! the password is checked, and wrong owner passwords per client and in
//! all (issue 17, items 1–3).

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use redis::AsyncCommands;
use taskmaster_api::auth::limiter::{MAX_ATTEMPTS, OWNER_MAX_PER_CLIENT};
use taskmaster_tests::{Auth, OWNER_PASSWORD, TestApp, TestResponse, spawn_app};

/// `GET /users/{id}` as `auth`: a user reading itself.
async fn me(app: &TestApp, id: u64, auth: &Auth) -> TestResponse {
    app.call(Method::GET, &format!("/users/{id}"), auth, None)
        .await
}

fn assert_limited(res: &TestResponse) {
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.text());
    let wait: u64 = res
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=300).contains(&wait), "{wait}");
    assert_eq!(res.json()["success"], false);
}

/// The keys of the app's prefix that match `pattern` (after the prefix).
pub(crate) async fn keys_like(app: &TestApp, pattern: &str) -> Vec<String> {
    let mut redis = app.redis().await;
    redis
        .keys(format!("{}{pattern}", app.keys.prefix()))
        .await
        .expect("KEYS")
}

#[tokio::test]
async fn fifty_parallel_wrong_guesses_get_at_most_the_limit_checked() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let guesses = (0..50).map(|i| {
        let auth = Auth::Basic(user.id.to_string(), format!("guess-{i}"));
        let app = &app;
        async move { me(app, user.id, &auth).await }
    });
    let answers = join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let limited: Vec<_> = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(checked + limited.len(), 50, "only 401s and 429s");
    assert!(
        checked <= MAX_ATTEMPTS as usize,
        "{checked} guesses were checked"
    );
    assert_eq!(limited.len(), 50 - checked);
    limited.iter().for_each(|r| assert_limited(r));
    // The right password is not even checked now, whichever name it uses:
    // the id and the email are one account.
    assert_limited(&me(&app, user.id, &user.auth()).await);
    assert_limited(
        &me(
            &app,
            user.id,
            &Auth::Basic(user.email.to_uppercase(), user.password.clone()),
        )
        .await,
    );
}

#[tokio::test]
async fn the_limit_holds_across_api_instances() {
    let app = spawn_app().await;
    let other = app.restart_same_prefix().await;
    let user = app.seed_user("user", &[]).await;
    for i in 0..MAX_ATTEMPTS {
        let instance = if i % 2 == 0 { &app } else { &other };
        let res = me(
            instance,
            user.id,
            &Auth::Basic(user.email.clone(), format!("guess-{i}")),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    }
    assert_limited(&me(&other, user.id, &user.auth()).await);
    assert_limited(&me(&app, user.id, &user.auth()).await);
}

#[tokio::test]
async fn a_right_password_gives_its_attempt_back_and_parallel_right_logins_all_pass() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    for i in 0..(MAX_ATTEMPTS - 1) {
        let res = me(
            &app,
            user.id,
            &Auth::Basic(user.id.to_string(), format!("typo-{i}")),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // One attempt is left: fifty parallel requests with the right password
    // share one check, count once, and give it back.
    let auth = user.auth();
    let logins = (0..50).map(|_| me(&app, user.id, &auth));
    for res in join_all(logins).await {
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    // The attempt is still there: one more typo is checked, the next is
    // refused.
    let typo = Auth::Basic(user.id.to_string(), "typo-last".into());
    assert_eq!(
        me(&app, user.id, &typo).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_limited(&me(&app, user.id, &typo).await);
}

#[tokio::test]
async fn a_client_already_working_is_not_locked_out_by_guesses_on_its_name() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    assert_eq!(me(&app, user.id, &user.auth()).await.status, StatusCode::OK);
    for i in 0..(MAX_ATTEMPTS + 5) {
        let res = me(
            &app,
            user.id,
            &Auth::Basic(user.id.to_string(), format!("guess-{i}")),
        )
        .await;
        assert_ne!(res.status, StatusCode::OK);
    }
    assert_eq!(me(&app, user.id, &user.auth()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_logins_are_limited_like_real_ones_under_fixed_size_keys() {
    let app = spawn_app().await;
    let ghost = Auth::Basic("nobody@example.com".into(), "guess".into());
    for _ in 0..MAX_ATTEMPTS {
        assert_eq!(me(&app, 1, &ghost).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_limited(&me(&app, 1, &ghost).await);
    // Long names (up to the longest email) cost one fixed-size key each.
    let long = format!("{}@example.com", "x".repeat(240));
    let res = me(&app, 1, &Auth::Basic(long, "guess".into())).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let keys = keys_like(&app, "limit:login:*").await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let sizes: Vec<usize> = keys.iter().map(String::len).collect();
    assert!(sizes.iter().all(|s| *s == sizes[0]), "{keys:?}");
}

#[tokio::test]
async fn login_names_over_254_bytes_are_refused_before_any_work() {
    let app = spawn_app().await;
    let huge = "y".repeat(30_000);
    for login in [format!("{}@example.com", "z".repeat(243)), huge] {
        let res = me(&app, 1, &Auth::Basic(login, "pw".into())).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
        assert!(res.header("www-authenticate").is_some());
    }
    assert_eq!(keys_like(&app, "limit:*").await, Vec::<String>::new());
}

#[tokio::test]
async fn wrong_owner_passwords_are_limited_per_client_and_then_refused_unchecked() {
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    let wrong = [("x-owner-password", "not-the-owner-secret")];
    for _ in 0..OWNER_MAX_PER_CLIENT - 1 {
        let res = app.request(Method::GET, "/users", &wrong, "").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    }
    assert_limited(&app.request(Method::GET, "/users", &wrong, "").await);
    // Now even the right secret is refused from this client, unchecked, so
    // a guess that happens to be right tells nothing.
    let right = [("x-owner-password", OWNER_PASSWORD)];
    assert_limited(&app.request(Method::GET, "/users", &right, "").await);
    // Users signing in with their own password are not affected, even with
    // an owner header beside it (ignored, unchecked, while refused).
    assert_eq!(me(&app, user.id, &user.auth()).await.status, StatusCode::OK);
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.id, user.password))
    );
    let both = [
        ("x-owner-password", OWNER_PASSWORD),
        ("authorization", basic.as_str()),
    ];
    let res = app
        .request(Method::GET, &format!("/users/{}", user.id), &both, "")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app.request(Method::GET, "/users", &both, "").await;
    assert_eq!(
        res.status,
        StatusCode::FORBIDDEN,
        "as the user, not the owner: {}",
        res.text()
    );
    // The count is in Redis: a second instance refuses it at its first
    // wrong guess, and then every owner password from this client.
    let other = app.restart_same_prefix().await;
    assert_limited(&other.request(Method::GET, "/users", &wrong, "").await);
    assert_limited(&other.request(Method::GET, "/users", &right, "").await);
    let keys = keys_like(&app, "limit:owner:*").await;
    assert!(
        keys.iter().any(|k| k.ends_with("limit:owner:127.0.0.1")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.ends_with("limit:owner:all")),
        "{keys:?}"
    );
    // An operator lifts the refusal by deleting the counts: both instances
    // (which remember the refusal) see it at the next request.
    let mut redis = app.redis().await;
    let _: () = redis.del(&keys).await.expect("DEL");
    for instance in [&app, &other] {
        let res = instance.request(Method::GET, "/users", &right, "").await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
}

/// The process's resident memory now, in KiB (the api runs in-process).
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn two_hundred_parallel_password_changes_hash_a_few_at_a_time() {
    let app = spawn_app().await;
    let users: Vec<_> = join_all((0..20).map(|_| app.seed_user("user", &[]))).await;
    let before = resident_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(resident_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let paths: Vec<String> = (0..200)
        .map(|i| format!("/users/{}", users[i % users.len()].id))
        .collect();
    let changes = paths.iter().enumerate().map(|(i, path)| {
        let body = serde_json::json!({ "password": format!("new-password-{i}") });
        app.call(Method::PUT, path, &Auth::Owner, Some(body))
    });
    for res in join_all(changes).await {
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    sampler.abort();
    let grown_mib = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before)
        / 1024;
    // argon2 takes 19 MiB per call: unbounded, the 200 calls run at once
    // and the process grows by 3.7 GiB (measured). Through the pool (one
    // per core; tests running beside this one share it) it grows by
    // 0.2-0.4 GiB here, most of it freed blocks that the allocator's
    // per-thread arenas keep.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let bound_mib = (cores * 3 * 19 + 512).max(1024);
    assert!(
        grown_mib <= bound_mib,
        "memory grew by {grown_mib} MiB (bound {bound_mib} MiB)"
    );
}
