//! The benchmark's ceiling: a minimal hyper 1 server answering a fixed JSON
//! body of about the size of one task, on `127.0.0.1:<port>`.
//!
//! `deploy/bench.sh` loads it exactly like the api, in the same run, and
//! prints every api figure as a ratio to this one.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const BODY: &str = r#"{"success":true,"data":{"id":1,"title":"Implement Login API","status":false,"priority":1,"deadline":"2025-10-15","information":"Create REST API for authentication","user_id":3,"group_id":1,"created_at":"2025-09-29T10:00:00.123456Z","updated_at":"2025-09-29T10:00:00.123456Z"}}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7999);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                            .expect("static response"),
                    )
                });
            // HTTP/1.1 only, like the api.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
