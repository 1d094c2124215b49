//! The accept loop: hyper 1 connections serving the edge (and through it
//! the axum router).
//!
//! `axum::serve` cannot set hyper's header-read timeout, and that timeout
//! only works when hyper has a timer, so connections are driven here with
//! hyper's HTTP/1 builder directly. Shutdown stops accepting, lets in-flight
//! requests finish (idle keep-alive connections close at once) and gives up
//! after the grace period.
//!
//! Bounds: at most `MAX_CONNECTIONS` connections are served at once (one
//! more is answered 503 and closed at once, so a flood of idle
//! connections cannot use up the file descriptors), and a request's
//! headers may take at most [`HEADER_BUFFER`] bytes (more is 431), so a
//! connection's memory is bounded too.
//!
//! Connections may be upgraded (the WebSocket feed, `GET /ws`): an upgraded
//! connection leaves hyper and its slot, and the feed closes it at
//! shutdown. hyper-util's `GracefulShutdown` cannot watch an upgradeable
//! connection, so each connection task watches the shutdown signal itself,
//! and the drain waits for every slot to come back.
//!
//! HTTP/1.1 only, as the reference served: the header-read timeout then
//! runs from the moment a connection waits for a request, so a connection
//! that sends nothing (or stops between requests) is closed after it. With
//! hyper-util's automatic HTTP/2 detection, a connection that sent nothing
//! waited forever for its first bytes, and an idle HTTP/2 connection had
//! no limit at all: enough of them used up every file descriptor.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::middleware::Edge;

/// The most bytes hyper buffers for one request's headers (its default
/// is about 400 KiB); longer headers are answered 431.
pub const HEADER_BUFFER: usize = 64 * 1024;

/// What a connection over the limit is told before it is closed.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\n\
content-length: 67\r\n\r\n\
{\"success\":false,\"error\":\"Too many connections; retry in a moment\"}";

/// The client address of a request's connection (a request extension;
/// behind a reverse proxy, the proxy's).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Timeouts of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Log the drain at info level (a lone server); the shards of one
    /// process log it at debug, and the process once.
    pub announce: bool,
}

/// Serves `edge` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    edge: Edge,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(HEADER_BUFFER)
        // The buffer bounds headers that arrive in pieces; this, headers
        // that arrive in one read.
        .max_header_size(HEADER_BUFFER)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut last_refusal_logged: Option<tokio::time::Instant> = None;

    let meters = edge.meters();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead
                    // of spinning or dying; the listener itself stays usable.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream);
            if last_refusal_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                last_refusal_logged = Some(tokio::time::Instant::now());
                tracing::warn!(
                    max_connections = options.max_connections,
                    "connection limit reached; refusing new connections"
                );
            }
            continue;
        };
        // Small JSON answers must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let edge = edge.clone();
        let client = ClientAddr(peer.ip());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request.extensions_mut().insert(client);
            edge.clone().handle(request)
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        let meters = meters.clone();
        meters.connection(1);
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = until_true(&mut stopping) => {
                    // Finish the request in flight; an idle one closes now.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            meters.connection(-1);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);

    let grace_ms = options.shutdown_grace.as_millis() as u64;
    if options.announce {
        tracing::info!(grace_ms, "draining connections");
    } else {
        tracing::debug!(grace_ms, "draining connections");
    }
    let all = u32::try_from(options.max_connections.max(1)).unwrap_or(u32::MAX);
    let drained = async {
        let _ = slots.acquire_many(all).await;
    };
    match tokio::time::timeout(options.shutdown_grace, drained).await {
        Ok(()) if options.announce => tracing::info!("all connections closed"),
        Ok(()) => tracing::debug!("all connections closed"),
        Err(_) => tracing::warn!("grace period over; closing the remaining connections"),
    }
    Ok(())
}

/// Resolves once `flag` is true (or its sender is gone).
pub async fn until_true(flag: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` answers must not live across an await.
    let _ = flag.wait_for(|v| *v).await.is_ok();
}

/// Answers a connection over the limit 503 and closes it, without waiting
/// for it: the answer fits in the socket's buffer, and a client that sends
/// nothing must not hold the accept loop.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(TOO_MANY);
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_whole_http_answer_with_the_json_envelope() {
        let text = std::str::from_utf8(TOO_MANY).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a length")
            .parse()
            .expect("a number");
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["success"], false);
    }
}
