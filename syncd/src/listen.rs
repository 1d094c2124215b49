//! What feeds the daemon's loop from Redis: control requests (a pub/sub
//! subscription) and wake-ups when the change log grows (a blocking read
//! of the stream).
//!
//! The wake-ups come from the change log rather than a channel of their
//! own: every write appends to the log anyway, so announcing it again
//! would cost every write a second command, and a blocking read misses
//! nothing while syncd is connected (a channel drops what it sends while
//! the subscriber reconnects).

use std::time::Duration;

use taskmaster_shared::config::Secret;
use taskmaster_shared::control::{ControlRequest, Incoming};
use taskmaster_shared::keys::Keys;
use tokio::sync::mpsc;

use crate::Control;

/// Subscribes to the control channel and feeds the loop; reconnects after
/// a Redis failure.
pub(crate) async fn listen(
    client: redis::Client,
    keys: Keys,
    secret: Secret,
    control: mpsc::Sender<Control>,
) {
    use futures_util::StreamExt;
    let control_channel = keys.control_channel();
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&control_channel).await.is_ok() {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let payload: String = message.get_payload().unwrap_or_default();
                        let event = match ControlRequest::parse(&payload) {
                            Ok(incoming) => {
                                Control::Request(Box::new(authenticated(incoming, &secret)))
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "malformed control request ignored");
                                continue;
                            }
                        };
                        if control.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                tracing::warn!("lost the Redis subscription; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How long a wake-up stands for the writes after it: the loop looks at
/// the backlog at most this often (see `Daemon::on_wake`).
const WAKE_GAP: Duration = Duration::from_millis(250);
/// How long one blocking read waits before it reads again.
const BLOCK_MS: u64 = 10_000;

/// Wakes the loop when the change log grows: blocks on the stream from its
/// newest entry; after a wake-up, waits [`WAKE_GAP`] and wakes the loop
/// again if more came meanwhile, then blocks from the newest. Only a
/// hint: the dirty sets are the truth, so a dropped wake-up costs nothing.
pub(crate) async fn watch_changes(
    client: redis::Client,
    keys: Keys,
    control: mpsc::Sender<Control>,
) {
    let stream = keys.changes();
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(
        Duration::from_millis(BLOCK_MS) + Duration::from_secs(5),
    ));
    loop {
        if let Ok(mut conn) = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            let mut last = newest(&mut conn, &stream)
                .await
                .unwrap_or_else(|| "0-0".to_owned());
            loop {
                let read: redis::RedisResult<redis::Value> = redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(1)
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(&last)
                    .query_async(&mut conn)
                    .await;
                match read {
                    Ok(redis::Value::Nil) => continue,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the change log's read; reconnecting");
                        break;
                    }
                }
                if control.is_closed() {
                    return;
                }
                let _ = control.try_send(Control::Wake);
                tokio::time::sleep(WAKE_GAP).await;
                let Some(now) = newest(&mut conn, &stream).await else {
                    break;
                };
                if now != last {
                    let _ = control.try_send(Control::Wake);
                }
                last = now;
            }
        }
        if control.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The id of the stream's newest entry (`0-0` when it has none); `None`
/// when Redis fails.
async fn newest(conn: &mut redis::aio::MultiplexedConnection, stream: &str) -> Option<String> {
    let newest: Vec<(String, redis::Value)> = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await
        .ok()?;
    Some(
        newest
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_owned(), |(id, _)| id),
    )
}

/// The request if its signature verifies; otherwise an invalid one, which
/// is answered with the reason and never acted on.
fn authenticated(incoming: Incoming, secret: &Secret) -> Incoming {
    let Incoming::Request(request) = incoming else {
        return incoming;
    };
    let now = chrono::Utc::now().timestamp();
    match request.verify(secret.expose().as_bytes(), now) {
        Ok(()) => Incoming::Request(request),
        Err(why) => {
            tracing::warn!(id = %request.id, action = request.action.name(), reason = why, "control request refused");
            Incoming::Invalid {
                id: request.id,
                reply_to: request.reply_to,
                error: format!("refused: {why}"),
            }
        }
    }
}
