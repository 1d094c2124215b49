//! `GET /ws`: a WebSocket carrying the feed.
//!
//! Server to client: one text message per entry (see [`super::entry`]);
//! `{"type":"error","error":…}` for a client message it could not use.
//! Client to server, any time: `{"resume_from":"<id>"}` to go on after a
//! position, `{"types":["task","user","group"],"group":3}` to narrow what
//! arrives (both keys optional; a message with either replaces the filter).
//!
//! Closing: `1001` at shutdown, `4000` after `FEED_IDLE_TIMEOUT` without a
//! word (pongs count), `4001` when the client fell `FEED_BUFFER` messages
//! behind, `4003` when its credential is revoked, `4009` after a restore,
//! `4010` when asked to resume from a position no longer retained; the
//! close reason says what to do. Pings go out every `FEED_PING_INTERVAL`.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use taskmaster_shared::config::FeedConfig;
use taskmaster_shared::position::Position;
use tokio::sync::watch;

use super::entry::Entry;
use super::filter::Filter;
use super::hub::CloseReason;
use super::subscription::{Next, StartError, Subscription};
use crate::store::{Standing, Store};

/// How often a connection's credential is checked even when the log says
/// nothing of it (a session that simply expired).
pub const CHECK_EVERY: Duration = Duration::from_secs(60);
/// How long one send may wait for a client that does not read.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Entries sent in one write at most: what a client's queue holds when it
/// is woken goes out together, one system call rather than one each.
const BATCH: usize = 64;
/// The largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientMessage {
    resume_from: Option<String>,
    types: Option<Vec<String>>,
    group: Option<u64>,
}

/// What the connection needs besides its socket.
pub struct Session {
    pub subscription: Subscription,
    pub standing: Standing,
    pub store: Store,
    pub config: FeedConfig,
    pub closing: watch::Receiver<bool>,
}

impl Session {
    /// Whether the credential the connection stands on is gone. Redis
    /// unreachable is not: the next check decides.
    pub async fn revoked(&self) -> bool {
        matches!(self.store.standing_holds(&self.standing).await, Ok(false))
    }
}

enum Event {
    Next(Result<Next, crate::store::StoreError>),
    Heard(Option<Result<Message, axum::Error>>),
    Ping,
    Check,
    Shutdown,
}

enum Outcome {
    Close(u16, &'static str),
    /// The client is gone or does not read: no close frame.
    Drop,
}

pub async fn serve(socket: WebSocket, mut s: Session) {
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval(s.config.ping_interval);
    ping.reset();
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.reset();
    let mut heard = Instant::now();
    // Something read while gathering a batch that is not an entry: the
    // next turn handles it.
    let mut pending: Option<Next> = None;
    let outcome = loop {
        let event = if let Some(next) = pending.take() {
            Event::Next(Ok(next))
        } else {
            tokio::select! {
            next = s.subscription.next() => Event::Next(next),
            message = stream.next() => Event::Heard(message),
            _ = ping.tick() => Event::Ping,
            _ = check.tick() => Event::Check,
            () = crate::server::until_true(&mut s.closing) => Event::Shutdown,
            }
        };
        let step = match event {
            Event::Next(Ok(Next::Entry(e))) => {
                send_batch(&mut sink, &e, &mut s.subscription, &mut pending).await
            }
            Event::Next(Ok(Next::Recheck)) | Event::Check => recheck(&s).await,
            Event::Next(Ok(Next::Closed(reason))) => Err(close(reason)),
            Event::Next(Err(e)) => {
                tracing::warn!(error = %e, "feed: cannot read the change log");
                Err(Outcome::Close(
                    1011,
                    "temporarily unavailable: reconnect and resume",
                ))
            }
            Event::Heard(message) => {
                heard = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => {
                        match client_message(&mut s, text.as_str()).await {
                            Ok(()) => Ok(()),
                            Err(Ok(error)) => send(&mut sink, Message::Text(error.into())).await,
                            Err(Err(outcome)) => Err(outcome),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        Err(Outcome::Close(1003, "only text messages are understood"))
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(Outcome::Drop),
                    Some(Ok(_)) => Ok(()),
                }
            }
            Event::Ping if heard.elapsed() >= s.config.idle_timeout => {
                Err(Outcome::Close(4000, "idle: nothing heard from the client"))
            }
            Event::Ping => send(&mut sink, Message::Ping(Default::default())).await,
            Event::Shutdown => Err(close(CloseReason::Shutdown)),
        };
        if let Err(outcome) = step {
            break outcome;
        }
    };
    if let Outcome::Close(code, reason) = outcome {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
}

fn close(reason: CloseReason) -> Outcome {
    Outcome::Close(reason.code(), reason.advice())
}

async fn send<S>(sink: &mut S, message: Message) -> Result<(), Outcome>
where
    S: futures_util::Sink<Message> + Unpin,
{
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Outcome::Drop),
    }
}

/// Sends `first` and whatever entries are ready after it, in one write.
async fn send_batch<S>(
    sink: &mut S,
    first: &Entry,
    subscription: &mut Subscription,
    pending: &mut Option<Next>,
) -> Result<(), Outcome>
where
    S: futures_util::Sink<Message> + Unpin,
{
    let batch = async {
        let mut fed = 0;
        if let Some(m) = &first.message {
            sink.feed(Message::Text(m.get().into()))
                .await
                .map_err(|_| ())?;
            fed += 1;
        }
        while fed < BATCH {
            match subscription.ready() {
                Some(Next::Entry(e)) => {
                    if let Some(m) = &e.message {
                        sink.feed(Message::Text(m.get().into()))
                            .await
                            .map_err(|_| ())?;
                        fed += 1;
                    }
                }
                Some(other) => {
                    *pending = Some(other);
                    break;
                }
                None => break,
            }
        }
        sink.flush().await.map_err(|_| ())
    };
    match tokio::time::timeout(SEND_TIMEOUT, batch).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Outcome::Drop),
    }
}

async fn recheck(s: &Session) -> Result<(), Outcome> {
    if s.revoked().await {
        return Err(close(CloseReason::Revoked));
    }
    Ok(())
}

fn error_message(text: &str) -> String {
    serde_json::json!({"type": "error", "error": text}).to_string()
}

/// Applies a client message: `Err(Ok(text))` answers an error message,
/// `Err(Err(outcome))` ends the connection.
async fn client_message(s: &mut Session, text: &str) -> Result<(), Result<String, Outcome>> {
    let message: ClientMessage = serde_json::from_str(text).map_err(|e| {
        Ok(error_message(&format!(
            "messages are {{\"resume_from\":\"<id>\"}} or {{\"types\":[…],\"group\":<id>}}: {e}"
        )))
    })?;
    if message.types.is_some() || message.group.is_some() {
        let kinds = match &message.types {
            None => None,
            Some(names) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                Some(
                    Filter::kinds(&names)
                        .map_err(|e| Ok(error_message(&format!("types: {}", e.message))))?,
                )
            }
        };
        s.subscription.set_filter(Filter {
            kinds,
            group: message.group,
        });
    }
    if let Some(from) = message.resume_from {
        let from = Position::parse(&from).ok_or_else(|| {
            Ok(error_message(
                "resume_from: not a position (an id received from the feed)",
            ))
        })?;
        match s.subscription.resume(from).await {
            Ok(()) => {}
            Err(StartError::Gone) => return Err(Err(close(CloseReason::Gone))),
            Err(StartError::Store(_)) => {
                return Err(Err(Outcome::Close(
                    1011,
                    "temporarily unavailable: reconnect and resume",
                )));
            }
        }
    }
    Ok(())
}
