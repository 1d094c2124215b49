//! The change feed's endpoints: `GET /changes` (pages, for polling
//! clients), `GET /events` (Server-Sent Events), `GET /ws` (a WebSocket)
//! and `POST /auth/ws-ticket` (a single-use ticket for browsers' sockets).
//! What they deliver, and to whom, is [`crate::feed`]'s.

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use taskmaster_shared::domain::FieldError;

use crate::answers::{ChangesPage, WsTicket, ok};
use crate::auth::{Caller, Credentials, resolve};
use crate::error::ApiError;
use crate::feed::connect::{self, Principal, TICKET_LIFE};
use crate::feed::hub::Refused;
use crate::feed::params::{FeedParams, position};
use crate::feed::pull::pull;
use crate::feed::subscription::{StartError, Subscription};
use crate::feed::ws::{MAX_CLIENT_MESSAGE, Session};
use crate::feed::{sse, ws};
use crate::paging;
use crate::state::AppState;

/// The answer to a position the log no longer holds.
fn gone() -> ApiError {
    ApiError::Gone(
        "That position is no longer in the change log (it keeps CHANGES_RETAIN of history): \
         read your lists again, then follow the feed from now"
            .into(),
    )
}

fn start_error(e: StartError) -> ApiError {
    match e {
        StartError::Gone => gone(),
        StartError::Store(e) => e.into(),
    }
}

/// `GET /changes?since=&limit=&types=&group=` (`cursor=` as `since=`).
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    paging::refuse_offsets(&query, "The change log")?;
    // `cursor` is `since` under the name every other list uses.
    let from = if query.contains_key("cursor") {
        if query.contains_key("since") {
            return Err(FieldError::new("cursor", "give `since` or `cursor`, not both").into());
        }
        "cursor"
    } else {
        "since"
    };
    let params = FeedParams::from_query(&query, from)?;
    let principal = connect::of_caller(&state, &caller).await?;
    let pulled = pull(
        &state.store,
        principal.rights,
        &params.filter,
        params.from,
        params.limit,
    )
    .await
    .map_err(start_error)?;
    let changes = pulled
        .entries
        .iter()
        .filter_map(|e| e.message.as_deref())
        .collect();
    let next = pulled.next.to_string();
    let next_cursor = pulled.more.then(|| next.clone());
    let link = next_cursor
        .as_deref()
        .and_then(|c| paging::cursor_link(&uri, c, &["since"]));
    let mut response = ok(ChangesPage {
        changes,
        more: pulled.more,
        next,
        next_cursor,
    });
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// A subscription for `principal`, within the connection limits.
async fn subscribe(
    state: &AppState,
    principal: &Principal,
    params: &FeedParams,
) -> Result<Subscription, ApiError> {
    let hub = state.services.feed.clone();
    let slot = hub.admit(principal.key()).map_err(|refused| match refused {
        Refused::PerPrincipal => ApiError::TooMany(format!(
            "Too many live feed connections for this account (FEED_MAX_PER_PRINCIPAL is {}); close one first",
            hub.config().max_per_principal
        )),
        Refused::Total => ApiError::Unavailable("Too many live feed connections; retry later".into()),
        Refused::ShuttingDown => ApiError::Unavailable("Shutting down; reconnect in a moment".into()),
    })?;
    Subscription::open(
        hub,
        state.store.clone(),
        principal.rights.clone(),
        params.filter.clone(),
        params.from,
        slot,
    )
    .await
    .map_err(start_error)
}

fn session(state: &AppState, principal: Principal, subscription: Subscription) -> Session {
    Session {
        subscription,
        standing: principal.standing,
        store: state.store.clone(),
        config: state.services.feed.config().to_owned(),
        closing: state.services.feed.closing(),
    }
}

/// `GET /events`: resumes after `Last-Event-ID` (or `?since=`).
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut params = FeedParams::from_query(&query, "since")?;
    if let Some(last) = headers.get("last-event-id") {
        let text = last
            .to_str()
            .map_err(|_| ApiError::BadRequest("Last-Event-ID is not text".into()))?;
        params.from = Some(position("Last-Event-ID", text)?);
    }
    let principal = connect::of_caller(&state, &caller).await?;
    let subscription = subscribe(&state, &principal, &params).await?;
    Ok(sse::stream(session(&state, principal, subscription)).into_response())
}

/// `GET /ws?ticket=&resume_from=&types=&group=`: a ticket, or the request's
/// own credentials.
pub async fn socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    credentials: Result<Credentials, ApiError>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if crate::origin::Origins::new(&state.config.cors_origins).refuses_socket(&headers) {
        return Err(ApiError::Forbidden(crate::origin::REFUSED.into()));
    }
    let principal = match query.get("ticket") {
        Some(ticket) => connect::of_ticket(&state, ticket).await?,
        None => {
            let caller = resolve(&state, &credentials?).await?;
            connect::of_caller(&state, &caller).await?
        }
    };
    let params = FeedParams::from_query(&query, "resume_from")?;
    let upgrade =
        upgrade.map_err(|e| ApiError::BadRequest(format!("GET /ws is a WebSocket: {e}")))?;
    let subscription = subscribe(&state, &principal, &params).await?;
    let session = session(&state, principal, subscription);
    // Small buffers: a connection's memory is mostly these (tungstenite's
    // defaults, 128 KiB each way, made 1,000 idle clients cost 165 KiB
    // apiece). Clients send a few small messages; entries go out in
    // batches that are flushed at once.
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| ws::serve(socket, session))
        .into_response())
}

/// `POST /auth/ws-ticket`.
pub async fn ticket(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let ticket = connect::ticket_for(&state, &caller).await?;
    Ok(ok(WsTicket {
        expires_in: TICKET_LIFE.as_secs(),
        ticket,
    }))
}
