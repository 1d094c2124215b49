//! The Redis subscriptions that feed the daemon's loop: control requests
//! and the api's write notifications.

use std::time::Duration;

use taskmaster_shared::config::Secret;
use taskmaster_shared::control::{ControlRequest, Incoming};
use taskmaster_shared::keys::Keys;
use tokio::sync::mpsc;

use crate::Control;

/// Subscribes to the control and events channels and feeds the loop;
/// reconnects after a Redis failure.
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
                let subscribed = pubsub.subscribe(&control_channel).await.is_ok()
                    && pubsub.subscribe(keys.events_channel()).await.is_ok();
                if subscribed {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let event = if message.get_channel_name() == control_channel {
                            let payload: String = message.get_payload().unwrap_or_default();
                            match ControlRequest::parse(&payload) {
                                Ok(incoming) => Control::Request(authenticated(incoming, &secret)),
                                Err(e) => {
                                    tracing::warn!(error = %e, "malformed control request ignored");
                                    continue;
                                }
                            }
                        } else {
                            // Only a wake-up: the dirty sets are the truth, so
                            // a dropped one costs nothing.
                            let _ = control.try_send(Control::Wake);
                            continue;
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
