//! `GET /events`: the feed as Server-Sent Events.
//!
//! Each entry is an event whose `id` is its position and whose `data` is
//! the message a WebSocket gets, so a browser's `EventSource` resumes by
//! itself with `Last-Event-ID`. A comment goes out every
//! `FEED_PING_INTERVAL` to keep proxies from closing a quiet stream. The
//! server ends a stream with an `event: close` whose data says why and
//! what to do (`{"reason":"lagged","advice":…}`), as a WebSocket gets a
//! close code.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

use super::hub::CloseReason;
use super::subscription::Next;
use super::ws::{CHECK_EVERY, Session};

fn closing_event(reason: CloseReason) -> Event {
    Event::default()
        .event("close")
        .data(serde_json::json!({"reason": reason.name(), "advice": reason.advice()}).to_string())
}

struct State {
    session: Session,
    check: tokio::time::Interval,
    done: bool,
}

/// The event stream of `session`.
pub fn stream(session: Session) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ping = session.config.ping_interval;
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.reset();
    let state = State {
        session,
        check,
        done: false,
    };
    let events = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let s = &mut st.session;
            // An entry, or the closing event (which ends the stream).
            let event = tokio::select! {
                next = s.subscription.next() => match next {
                    Ok(Next::Entry(e)) => e
                        .message
                        .as_ref()
                        .map(|m| (Event::default().id(e.position.to_string()).data(m.get()), false)),
                    Ok(Next::Recheck) => revoked(s).await,
                    Ok(Next::Closed(reason)) => Some((closing_event(reason), true)),
                    Err(_) => Some((closing_event(CloseReason::Shutdown), true)),
                },
                _ = st.check.tick() => revoked(&st.session).await,
                () = crate::server::until_true(&mut s.closing) => Some((closing_event(CloseReason::Shutdown), true)),
            };
            if let Some((event, last)) = event {
                st.done = last;
                return Some((Ok(event), st));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(ping))
}

async fn revoked(s: &Session) -> Option<(Event, bool)> {
    s.revoked()
        .await
        .then(|| (closing_event(CloseReason::Revoked), true))
}
