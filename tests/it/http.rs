use std::time::Duration;

use hyper::{Method, StatusCode};
use taskmaster_tests::{shared, spawn_app, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn assert_json_error(res: &taskmaster_tests::TestResponse, status: StatusCode) {
    assert_eq!(res.status, status, "{}", res.text());
    let body = res.json();
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() {
    let app = spawn_app().await;
    let res = app.get("/no/such/path").await;
    assert_json_error(&res, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_methods_get_a_json_405_with_an_allow_header() {
    let app = spawn_app().await;
    let res = app.request(Method::DELETE, "/health", &[], "").await;
    assert_json_error(&res, StatusCode::METHOD_NOT_ALLOWED);
    let allow = res.header("allow").expect("Allow header kept");
    assert!(allow.contains("GET"), "{allow}");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_get_a_json_413() {
    let app = spawn_app().await;
    let big = vec![b'x'; 1024 * 1024 + 1];
    let res = app
        .request(
            Method::POST,
            "/health",
            &[("content-type", "application/json")],
            big,
        )
        .await;
    assert_json_error(&res, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let shared = shared().await;
    let app = spawn_app_with(shared.redis.port, &[("HEADER_READ_TIMEOUT", "500ms")]).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "the server kept a half-sent request open for 5 s"
    );
    // hyper may answer 408 before closing; it must never answer 200.
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn stopping_the_app_closes_the_listener_promptly() {
    let app = spawn_app().await;
    let addr = app.addr;
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.stop()).await;
    assert!(
        stopped.is_ok(),
        "run() did not return within 5 s of shutdown"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
