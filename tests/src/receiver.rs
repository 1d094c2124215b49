//! A real HTTP server that receives webhook deliveries, for the tests and
//! the benchmark: it records every request (headers, body, when) and
//! answers as told (fail the first N, take a while, or 200).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// When it arrived, and when it was answered.
    pub at: Instant,
    pub answered: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Answer 500 to this many requests first.
    pub fail_first: u32,
    /// Wait this long before each answer.
    pub delay: Duration,
}

/// A running receiver; it stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    pub requests: mpsc::UnboundedReceiver<Received>,
    failures_left: Arc<AtomicU32>,
    log: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, requests) = mpsc::unbounded_channel();
        let failures_left = Arc::new(AtomicU32::new(behaviour.fail_first));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (left, kept) = (failures_left.clone(), log.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (tx, left, kept) = (tx.clone(), left.clone(), kept.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (tx, left, kept) = (tx.clone(), left.clone(), kept.clone());
                        async move {
                            let at = Instant::now();
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            tokio::time::sleep(behaviour.delay).await;
                            let fail = left
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok();
                            let received = Received {
                                path: parts.uri.path().to_owned(),
                                headers: parts.headers,
                                body,
                                at,
                                answered: Instant::now(),
                            };
                            kept.lock().expect("log").push(received.clone());
                            let _ = tx.send(received);
                            let status = if fail {
                                StatusCode::INTERNAL_SERVER_ERROR
                            } else {
                                StatusCode::OK
                            };
                            let mut answer = Response::new(Full::new(Bytes::from_static(b"ok")));
                            *answer.status_mut() = status;
                            Ok::<_, Infallible>(answer)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            requests,
            failures_left,
            log,
            task,
        }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// From now on, answer 500 to the next `n` requests.
    pub fn fail_next(&self, n: u32) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Received> {
        self.log.lock().expect("log").clone()
    }

    /// The next request, waiting up to `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<Received> {
        tokio::time::timeout(limit, self.requests.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
