use std::time::Duration;

use hyper::{Method, StatusCode};
use taskmaster_tests::{OWNER_PASSWORD, shared, spawn_app, spawn_app_on, spawn_app_with};
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
async fn a_chunked_body_crossing_one_mebibyte_gets_a_json_413() {
    // No Content-Length: the limit must hold while the body is read.
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    let head = format!(
        "POST /users HTTP/1.1\r\nHost: x\r\nX-Owner-Password: {OWNER_PASSWORD}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    // Whitespace is valid JSON padding, so only the size can refuse it.
    while sent <= 1024 * 1024 {
        let head = format!("{:x}\r\n", chunk.len());
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break; // the server answered and closed early: fine
        }
        sent += chunk.len();
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let body = &text[text.find("\r\n\r\n").expect("head ends") + 4..];
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(json["success"], false, "{json}");
}

#[tokio::test]
async fn a_request_running_past_the_request_timeout_gets_a_json_503() {
    let shared = shared().await;
    let app = spawn_app().await;
    let user = app.seed_user("user", &[]).await;
    // A second instance on the same data, whose time limit is shorter than
    // the argon2 verification its first Basic-auth request must do.
    let strict = spawn_app_on(
        shared.redis.port,
        app.keys.prefix(),
        &[("REQUEST_TIMEOUT", "1ms")],
    )
    .await;
    let path = format!("/users/{}/tasks", user.id);
    let res = strict.call(Method::GET, &path, &user.auth(), None).await;
    assert_json_error(&res, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json()["error"], "Request timed out");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(
        app.call(Method::GET, &path, &user.auth(), None)
            .await
            .status,
        StatusCode::OK
    );
    // The limit is the request's, not the connection's: OPTIONS needs no
    // work and still answers.
    let res = strict.request(Method::OPTIONS, &path, &[], "").await;
    assert_eq!(res.status, StatusCode::OK);
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
async fn connections_that_send_nothing_or_fall_idle_or_speak_http2_are_closed() {
    let shared = shared().await;
    let app = spawn_app_with(shared.redis.port, &[("HEADER_READ_TIMEOUT", "500ms")]).await;
    /// Sends `bytes` on a new connection; the server's answer, once it has
    /// closed the connection (None if it kept it open for 5 s).
    async fn answer_then_close(addr: std::net::SocketAddr, bytes: &[u8]) -> Option<String> {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(bytes).await.expect("write");
        until_closed(&mut stream).await
    }
    // Not a byte sent.
    let silent = answer_then_close(app.addr, b"").await;
    assert!(
        silent.is_some(),
        "a connection that never sent a byte stayed open"
    );
    // One whole request, then nothing: answered, then closed.
    let idle = answer_then_close(app.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("an idle keep-alive connection stayed open");
    assert!(idle.starts_with("HTTP/1.1 200"), "{idle}");
    // The HTTP/2 preface and a SETTINGS frame: HTTP/1.1 only, as the
    // reference served.
    let h2 = answer_then_close(
        app.addr,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )
    .await
    .expect("an HTTP/2 connection stayed open");
    assert!(!h2.starts_with("HTTP/1.1 200"), "{h2}");
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

/// Reads what the server sends on `stream` until it closes it (None if it
/// stays open for 5 s).
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&buf).into_owned())
}

/// One keep-alive request on `stream`; its whole answer (headers, then
/// as many body bytes as `Content-Length` says), so that the next request
/// on the stream reads its own.
async fn ask_health(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

#[tokio::test]
async fn a_connection_over_max_connections_gets_a_json_503_and_its_slot_comes_back() {
    let shared = shared().await;
    let app = spawn_app_with(
        shared.redis.port,
        &[("MAX_CONNECTIONS", "2"), ("HEADER_READ_TIMEOUT", "30s")],
    )
    .await;
    // Two connections served, then held open by their clients.
    let mut first = TcpStream::connect(app.addr).await.expect("connect");
    let mut second = TcpStream::connect(app.addr).await.expect("connect");
    for held in [&mut first, &mut second] {
        let answer = ask_health(held).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // A third is answered and closed at once, whatever it sends.
    let mut third = TcpStream::connect(app.addr).await.expect("connect");
    let refused = until_closed(&mut third)
        .await
        .expect("a connection over the limit stayed open");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let body: serde_json::Value =
        serde_json::from_str(refused.split_once("\r\n\r\n").expect("a body").1).expect("JSON");
    assert_eq!(body["success"], false, "{body}");
    // The held connections still work; closing one frees its slot.
    let answer = ask_health(&mut second).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(first);
    let served = taskmaster_tests::eventually(Duration::from_secs(5), || async {
        let mut again = TcpStream::connect(app.addr).await.ok()?;
        let answer = ask_health(&mut again).await;
        answer.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    assert!(
        served.is_some(),
        "the closed connection's slot never came back"
    );
}

#[tokio::test]
async fn headers_over_64_kib_get_431_and_the_connection_is_closed() {
    let app = spawn_app().await;
    for (size, fits) in [(32 * 1024, true), (100 * 1024, false)] {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        );
        // The server may stop reading once the buffer is full: a write
        // error then is the refusal, not a failure.
        let _ = stream.write_all(request.as_bytes()).await;
        let answer = until_closed(&mut stream)
            .await
            .expect("the connection stayed open");
        if fits {
            assert!(answer.starts_with("HTTP/1.1 200"), "{size} bytes: {answer}");
        } else {
            // 431, unless the close (with the rest of the request unread)
            // reset the connection before the answer was read: never 200.
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
                "{size} bytes: {answer}"
            );
        }
    }
}
