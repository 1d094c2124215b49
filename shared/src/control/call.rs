//! A control request's round trip, for the api and `taskmaster-ctl`:
//! subscribe to the reply channel, publish the signed request (again while
//! no answer comes: pub/sub keeps nothing across a failover), wait for the
//! one answer.

use super::{Action, ControlReply, ControlRequest, SIGNATURE_MAX_AGE_SECS};

/// Why [`call`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Nobody listens on the control channel: no syncd runs.
    #[error("no syncd is listening on the control channel")]
    NoDaemon,
    /// The subscription ended before the answer came.
    #[error("lost the connection to Redis while waiting for syncd")]
    Closed,
    #[error("syncd did not answer in time")]
    TimedOut,
}

/// Publishes one control request and waits up to `timeout` for its single
/// answer, signed with `secret`. The reply channel is subscribed to before the request goes out,
/// so the answer cannot be missed. `id` must be unique to this request;
/// `waiting` is called about once a second with the time waited so far
/// (for progress displays).
pub async fn call(
    client: &redis::Client,
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &crate::keys::Keys,
    request: (String, Action),
    secret: &[u8],
    timeout: std::time::Duration,
    mut waiting: impl FnMut(std::time::Duration),
) -> Result<ControlReply, CallError> {
    use futures_util::StreamExt;
    let (id, action) = request;
    let reply_to = keys.control_reply_channel(&id);
    // The deadline also bounds reaching Redis (a host that drops packets).
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let subscribed = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&reply_to).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    let mut pubsub = tokio::select! {
        pubsub = subscribed => pubsub?,
        () = &mut deadline => return Err(CallError::TimedOut),
    };
    let request = ControlRequest::signed(id.clone(), action, reply_to, secret);
    let payload = serde_json::to_string(&request).unwrap_or_default();
    let receivers: u64 = redis::cmd("PUBLISH")
        .arg(keys.control_channel())
        .arg(&payload)
        .query_async(conn)
        .await?;
    if receivers == 0 {
        return Err(CallError::NoDaemon);
    }
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    // Pub/sub keeps nothing: a request published while no daemon is active
    // (the active one just died, the standby takes over when the lease
    // runs out) is lost. So it is published again every
    // `REPUBLISH_SECS` while no answer comes, as long as its signature is
    // young enough to pass; the daemon carries out each id once.
    let mut republish = tokio::time::interval_at(
        started + std::time::Duration::from_secs(REPUBLISH_SECS),
        std::time::Duration::from_secs(REPUBLISH_SECS),
    );
    let mut messages = pubsub.on_message();
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return Err(CallError::Closed);
                };
                let payload: String = message.get_payload().unwrap_or_default();
                if let Ok(reply) = serde_json::from_str::<ControlReply>(&payload)
                    && reply.id == id
                {
                    return Ok(reply);
                }
            }
            _ = ticker.tick() => waiting(started.elapsed()),
            _ = republish.tick(), if started.elapsed().as_secs() < REPUBLISH_FOR_SECS => {
                // A failure here is the next tick's to retry.
                let _: Result<u64, _> = redis::cmd("PUBLISH")
                    .arg(keys.control_channel())
                    .arg(&payload)
                    .query_async(conn)
                    .await;
            }
            () = &mut deadline => return Err(CallError::TimedOut),
        }
    }
}

/// How often [`call`] publishes an unanswered request again, and for how
/// long (half a signature's life, so a daemon never refuses it as stale).
pub const REPUBLISH_SECS: u64 = 2;
pub const REPUBLISH_FOR_SECS: u64 = SIGNATURE_MAX_AGE_SECS as u64 / 2;
