use std::time::Duration;

use hyper::{Method, StatusCode};
use taskmaster_tests::{RedisServer, eventually, spawn_app, spawn_app_with};

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
    let mut redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("join")
        .expect("redis starts");
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
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("join")
        .expect("redis starts");
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
