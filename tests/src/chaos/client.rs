//! The fault run's HTTP client: one request, one [`Answer`], never a
//! panic. A request that gets no answer in time, or whose connection
//! breaks, is an answer too (status 0): the run records it as
//! indeterminate, as Jepsen's `info` operations.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long a request may take before the client gives up on it.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Who a request is sent as.
#[derive(Debug, Clone)]
pub enum As {
    Owner(String),
    Basic(u64, String),
    /// A personal API token.
    Bearer(String),
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status; 0 when none came (timeout, refused, cut).
    pub status: u16,
    pub body: Value,
    /// The body as text when it is not JSON (or the transport error).
    pub text: String,
}

/// How an answer counts in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// 2xx: the write happened.
    Ok,
    /// 4xx, or a 503 the api gives before writing (a restore, the id
    /// check): nothing was written.
    Fail,
    /// No answer, or another 5xx: it may or may not have happened.
    Info,
}

impl Answer {
    pub fn outcome(&self) -> Outcome {
        match self.status {
            200..=299 => Outcome::Ok,
            400..=499 => Outcome::Fail,
            503 if self.refused_before_writing() => Outcome::Fail,
            _ => Outcome::Info,
        }
    }

    /// The api's 503s that are decided before any write: the maintenance
    /// flag (checked atomically by every write script) and the id check
    /// after a Redis restart.
    fn refused_before_writing(&self) -> bool {
        let error = self.body["error"].as_str().unwrap_or_default();
        error.to_ascii_lowercase().contains("maintenance") || error.starts_with("Storage restarted")
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
}

#[derive(Clone)]
pub struct Http {
    base: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Http {
    /// A client that gives up after `timeout` (operations that may take
    /// long, such as a restore).
    pub fn with_timeout(base: SocketAddr, timeout: Duration) -> Http {
        Http {
            timeout,
            ..Http::new(base)
        }
    }

    pub fn new(base: SocketAddr) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        Http {
            base,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(10))
                .build(connector),
            timeout: TIMEOUT,
        }
    }

    /// Sends one request with `X-Request-Id: request_id` (kept by the api:
    /// loopback is a trusted proxy), an optional JSON body and extra
    /// headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        who: &As,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, String)],
        request_id: &str,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.base, path))
            .header("x-request-id", request_id);
        req = match who {
            As::Owner(secret) => req.header("x-owner-password", secret),
            As::Basic(id, pw) => {
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{pw}"));
                req.header("authorization", format!("Basic {pair}"))
            }
            As::Bearer(token) => req.header("authorization", format!("Bearer {token}")),
        };
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let bytes = match body {
            Some((content_type, bytes)) => {
                req = req.header("content-type", content_type);
                bytes
            }
            None => Vec::new(),
        };
        let Ok(req) = req.body(Full::new(Bytes::from(bytes))) else {
            return transport("request could not be built");
        };
        let started = Instant::now();
        let sent = tokio::time::timeout(self.timeout, async {
            let res = self.client.request(req).await?;
            let status = res.status().as_u16();
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
        })
        .await;
        match sent {
            Err(_) => transport(&format!("no answer in {:?}", started.elapsed())),
            Ok(Err(e)) => transport(&e.to_string()),
            Ok(Ok((status, body))) => match serde_json::from_slice(&body) {
                Ok(json) => Answer {
                    status,
                    body: json,
                    text: String::new(),
                },
                Err(_) => Answer {
                    status,
                    body: Value::Null,
                    text: String::from_utf8_lossy(&body).chars().take(500).collect(),
                },
            },
        }
    }

    /// A JSON request.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        who: &As,
        body: Option<&Value>,
        request_id: &str,
    ) -> Answer {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(method, path, who, body, &[], request_id).await
    }
}

fn transport(why: &str) -> Answer {
    Answer {
        status: 0,
        body: Value::Null,
        text: why.to_owned(),
    }
}
