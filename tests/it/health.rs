use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, RedisServer, TestResponse, eventually, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_answers_200_with_an_rfc3339_timestamp_when_redis_is_up() {
    let app = spawn_app().await;
    let res = app.get("/health").await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(body["status"], "healthy");
    let ts = body["timestamp"].as_str().expect("timestamp is a string");
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
        "not RFC 3339: {ts}"
    );
    assert!(
        res.header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
}

#[tokio::test]
async fn head_health_answers_the_same_status_without_a_body() {
    let app = spawn_app().await;
    let res = app.request(Method::HEAD, "/health", &[], "").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.is_empty());
}

#[tokio::test]
async fn health_turns_503_when_redis_stops_and_200_again_after_it_restarts() {
    let mut redis = private_redis().await;
    let app = spawn_app_with(redis.port, &[]).await;
    assert_eq!(app.get("/health").await.status, StatusCode::OK);

    let redis = tokio::task::spawn_blocking(move || {
        redis.stop();
        redis
    })
    .await
    .expect("join");
    let started = tokio::time::Instant::now();
    let res = app.get("/health").await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "health must answer within a bounded time"
    );
    let body = res.json();
    assert_eq!(body["status"], "unhealthy");
    assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(body["timestamp"].is_string());

    let mut redis = redis;
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart().expect("redis restarts");
        redis
    })
    .await
    .expect("join");
    // The pool drops broken connections and dials again by itself.
    let healthy = eventually(Duration::from_secs(10), || async {
        (app.get("/health").await.status == StatusCode::OK).then_some(())
    })
    .await;
    assert!(
        healthy.is_some(),
        "health did not recover after redis restarted"
    );
    drop(redis);
}

#[tokio::test]
async fn health_answers_503_in_bounded_time_when_redis_hangs() {
    let redis = private_redis().await;
    let app = spawn_app_with(redis.port, &[]).await;
    assert_eq!(app.get("/health").await.status, StatusCode::OK);

    let pid = redis.pid().expect("redis runs");
    signal(pid, libc::SIGSTOP);
    let started = tokio::time::Instant::now();
    let res = app.get("/health").await;
    let waited = started.elapsed();
    signal(pid, libc::SIGCONT);
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        waited < Duration::from_secs(3),
        "took {waited:?}; HEALTH_TIMEOUT is 1s"
    );

    let healthy = eventually(Duration::from_secs(10), || async {
        (app.get("/health").await.status == StatusCode::OK).then_some(())
    })
    .await;
    assert!(
        healthy.is_some(),
        "health did not recover after redis resumed"
    );
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child process of this test.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Redis saying "not now" (out of memory under `noeviction`, or busy with a
/// script past its time limit) is the server's state, not the request's
/// fault: a JSON 503 with `Retry-After`, nothing written, and the same
/// request succeeds once Redis is back to normal.
#[tokio::test]
async fn a_full_or_busy_redis_gets_a_json_503_and_no_write() {
    let redis = private_redis().await;
    let app = spawn_app_with(redis.port, &[]).await;
    let mut conn = app.redis().await;
    let config = |name: &'static str, value: &'static str| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query_async::<()>(&mut conn)
                .await
                .expect("config set");
        }
    };
    let new_user = |n: u32| json!({"full_name": format!("Full {n}"), "email": format!("full{n}@example.com"), "password": "secret1"});
    let count = || async {
        app.call(Method::GET, "/users", &Auth::Owner, None)
            .await
            .json()["data"]["users"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = count().await;

    config("maxmemory-policy", "noeviction").await;
    config("maxmemory", "1").await;
    let res = app
        .call(Method::POST, "/users", &Auth::Owner, Some(new_user(1)))
        .await;
    assert_json_503(&res);
    // Reads still work, and show that nothing was written.
    assert_eq!(count().await, before);
    config("maxmemory", "0").await;
    let res = app
        .call(Method::POST, "/users", &Auth::Owner, Some(new_user(1)))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let id = res.json()["data"]["user"]["id"].as_u64().expect("id");

    // A script that never ends, on a connection of its own.
    config("busy-reply-threshold", "50").await;
    let spinner = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port))
        .expect("url")
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await
        .expect("connection");
    let spinning = tokio::spawn(async move {
        let mut spinner = spinner;
        redis::cmd("EVAL")
            .arg("while true do end")
            .arg(0)
            .query_async::<()>(&mut spinner)
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = app
        .call(Method::GET, &format!("/users/{id}"), &Auth::Owner, None)
        .await;
    assert_json_503(&res);
    redis::cmd("SCRIPT")
        .arg("KILL")
        .query_async::<()>(&mut conn)
        .await
        .expect("script kill");
    assert!(
        spinning.await.expect("join").is_err(),
        "the script was killed"
    );
    let res = app
        .call(Method::GET, &format!("/users/{id}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    drop(redis);
}

/// A JSON 503 that tells the client when to come back.
fn assert_json_503(res: &TestResponse) {
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    assert_eq!(res.json()["success"], false);
    assert!(res.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(res.header("retry-after"), Some("1"));
}

/// A Redis server of the test's own, to stop, pause or misconfigure.
async fn private_redis() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("join")
        .expect("redis starts")
}
