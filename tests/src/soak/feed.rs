//! A live-feed client of the soak: follows `GET /events` (Server-Sent
//! Events) as the owner, counting the events it receives, and follows
//! again when the stream ends, until the load stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::load::Load;

pub async fn follow(api: SocketAddr, owner: String, events: Arc<AtomicU64>, load: Arc<Load>) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    while !load.stop.load(Ordering::Relaxed) {
        let req = hyper::Request::get(format!("http://{api}/events"))
            .header("x-owner-password", &owner)
            .header("accept", "text/event-stream")
            .body(Empty::new());
        let Ok(req) = req else { return };
        if let Ok(res) = client.request(req).await
            && res.status().is_success()
        {
            let mut body = res.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    let n = data.windows(6).filter(|w| *w == b"\ndata:").count();
                    events.fetch_add(n as u64, Ordering::Relaxed);
                }
                if load.stop.load(Ordering::Relaxed) {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
