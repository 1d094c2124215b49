//! Real clients of the live change feed: a WebSocket client
//! (tokio-tungstenite) and a Server-Sent Events reader over hyper, both
//! with timeouts, so a test waits for a message or its absence and never
//! hangs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Auth, TestApp};

/// How long a test waits for a message it expects.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a test waits to be sure nothing more arrives.
pub const QUIET: Duration = Duration::from_millis(500);

/// A WebSocket connection to `GET /ws`.
pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a WebSocket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code and reason.
    Closed(u16, String),
    /// The connection ended without one.
    Dropped,
}

/// What one WebSocket handshake came to.
pub enum Handshake {
    Open(Box<WsClient>),
    /// Refused with this HTTP status and JSON body.
    Refused(u16, Value),
}

impl TestApp {
    /// Opens `GET /ws{query}` as `auth` (with extra headers).
    pub async fn ws_handshake(
        &self,
        query: &str,
        auth: &Auth,
        extra: &[(&str, &str)],
    ) -> Handshake {
        let url = format!("ws://{}/ws{query}", self.addr);
        let mut request = url.into_client_request().expect("a WebSocket request");
        let credentials = auth.header();
        let credentials = credentials.as_ref().map(|(n, v)| (*n, v.as_str()));
        for (name, value) in credentials.iter().chain(extra) {
            request.headers_mut().insert(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        let connected = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("the handshake finished in time");
        match connected {
            Ok((socket, _)) => Handshake::Open(Box::new(WsClient { socket })),
            Err(WsError::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Handshake::Refused(status, body)
            }
            Err(e) => panic!("WebSocket handshake failed: {e}"),
        }
    }

    /// Opens `GET /ws{query}` as `auth`; panics unless it opens.
    pub async fn ws(&self, query: &str, auth: &Auth) -> WsClient {
        match self.ws_handshake(query, auth, &[]).await {
            Handshake::Open(client) => *client,
            Handshake::Refused(status, body) => panic!("GET /ws refused: {status} {body}"),
        }
    }
}

impl WsClient {
    /// The next feed message (JSON), or `None` if the connection ended or
    /// nothing came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next())
                .await
                .ok()??;
            match message.ok()? {
                Message::Text(text) => {
                    return Some(checked(
                        serde_json::from_str(text.as_str()).expect("JSON message"),
                    ));
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next message; panics when none comes.
    pub async fn next(&mut self) -> Value {
        self.next_within(WAIT).await.expect("a feed message")
    }

    /// Every message that arrives until the feed is quiet for [`QUIET`].
    pub async fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next_within(QUIET).await {
            out.push(v);
        }
        out
    }

    /// Sends a text message.
    pub async fn send(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("message sent");
    }

    /// Reads until the connection ends: how it ended, and the messages
    /// before.
    pub async fn until_closed(&mut self) -> (Vec<Value>, Ended) {
        let mut seen = Vec::new();
        loop {
            let next = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("the connection ended in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    seen.push(checked(serde_json::from_str(text.as_str()).expect("JSON")))
                }
                Some(Ok(Message::Close(frame))) => {
                    let ended = frame.map_or(Ended::Dropped, |f| {
                        Ended::Closed(u16::from(f.code), f.reason.to_string())
                    });
                    return (seen, ended);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (seen, Ended::Dropped),
            }
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Stops reading: the socket stays open, but its buffers fill.
    pub fn stall(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.socket
    }
}

/// `message`, once checked against the spec's `FeedMessage` (an error
/// answer to a client message has its own shape, `{"type":"error","error"}`).
fn checked(message: Value) -> Value {
    if message["type"] != "error" {
        crate::spec::check_feed_message(&message);
    }
    message
}

/// A Server-Sent Events stream from `GET /events`.
pub struct SseClient {
    body: hyper::body::Incoming,
    buffer: String,
    pub status: u16,
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Value,
}

impl TestApp {
    /// Opens `GET /events{query}` as `auth`, with extra headers.
    pub async fn sse(&self, query: &str, auth: &Auth, extra: &[(&str, &str)]) -> SseClient {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let mut builder = Request::builder().uri(self.url(&format!("/events{query}")));
        if let Some((name, value)) = auth.header() {
            builder = builder.header(name, value);
        }
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        let response = tokio::time::timeout(
            WAIT,
            client.request(builder.body(Empty::new()).expect("request")),
        )
        .await
        .expect("answered in time")
        .expect("request sent");
        let status = response.status().as_u16();
        SseClient {
            body: response.into_body(),
            buffer: String::new(),
            status,
        }
    }
}

impl SseClient {
    /// The next event (comments skipped), or `None` when the stream ended
    /// or nothing came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() && event.is_none() {
                    continue;
                }
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                if event.is_none() {
                    crate::spec::check_feed_message(&data);
                }
                return Some(SseEvent { id, event, data });
            }
            let frame = tokio::time::timeout(wait, self.body.frame())
                .await
                .ok()??
                .ok()?;
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }

    pub async fn next(&mut self) -> SseEvent {
        self.next_within(WAIT).await.expect("an event")
    }
}
