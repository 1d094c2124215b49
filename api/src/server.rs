//! The accept loop: hyper 1 connections serving the edge (and through it
//! the axum router).
//!
//! `axum::serve` cannot set hyper's header-read timeout, and that timeout
//! only works when hyper has a timer, so connections are driven here with
//! hyper's HTTP/1 builder directly. Shutdown stops accepting, lets in-flight
//! requests finish (idle keep-alive connections close at once) and gives up
//! after the grace period.
//!
//! HTTP/1.1 only, as the reference served: the header-read timeout then
//! runs from the moment a connection waits for a request, so a connection
//! that sends nothing (or stops between requests) is closed after it. With
//! hyper-util's automatic HTTP/2 detection, a connection that sent nothing
//! waited forever for its first bytes, and an idle HTTP/2 connection had
//! no limit at all: enough of them used up every file descriptor.

use std::future::Future;
use std::io;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::middleware::Edge;

/// Timeouts of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
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
        .keep_alive(true);

    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
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
        // Small JSON answers must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let edge = edge.clone();
        let service = hyper::service::service_fn(move |request| edge.clone().handle(request));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);

    tracing::info!(
        grace_ms = options.shutdown_grace.as_millis() as u64,
        "draining connections"
    );
    match tokio::time::timeout(options.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("grace period over; closing the remaining connections"),
    }
    Ok(())
}
