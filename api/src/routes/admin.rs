//! `/admin/status`, `/admin/stats`, `/admin/sync`: the owner's view of the
//! write-behind, and the way to ask syncd for work; `/admin/audit`: the
//! audit log (see [`crate::audit`]).
//!
//! syncd's heartbeat keeps a status record in Redis (with a TTL); when it
//! is missing or stale, no syncd runs. Requests go over the control channel
//! and wait for syncd's single answer (`SYNC_REQUEST_TIMEOUT`, then 504).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use taskmaster_shared::control::{Action, ActionError, RestoreArgs};

use crate::answers::{
    AdminStats, AdminStatus, Configuration, PostgresView, RedisView, SyncDone, SyncdView, ok,
};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::flag;
use crate::state::AppState;
use crate::syncd::SyncView;

/// What `POST /admin/sync?action=` takes; the spec states them from here.
pub const ACTIONS: [&str; 4] = ["force", "status", "backup", "restore"];

fn owner_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_owner() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Insufficient permissions".into()))
    }
}

pub async fn status(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    owner_only(&caller)?;
    let v = SyncView::read(&state).await?;
    let summary = v.summary();
    let status = v.status.as_ref();
    // Reading the view just now went through Redis: it is connected.
    let postgres_status = v.postgres_state();
    // The reference's objects, with real states instead of its constant.
    let (address, database) = state.store.redis_target();
    let target = status.and_then(|s| s.postgres_target.as_ref());
    Ok(ok(AdminStatus {
        configuration: Configuration {
            api_port: state.config.port,
            environment: state.config.app_env.as_str(),
            sync_interval: status.map(|s| s.interval.clone()),
        },
        dirty_types: summary.dirty_types,
        healthy: summary.healthy,
        interval: summary.interval,
        last_sync: summary.last_sync,
        pending: v.pending,
        pending_changes: summary.pending_changes,
        postgres: PostgresView {
            database: target.map(|t| t.database.clone()),
            host: target.map(|t| t.host.clone()),
            port: target.map(|t| t.port),
            status: postgres_status.clone(),
        },
        postgres_status,
        redis: RedisView {
            address,
            database,
            status: "connected",
        },
        redis_status: "connected",
        running: summary.running,
        syncd: status.map(|s| SyncdView {
            heartbeat_at: s.heartbeat_at.clone(),
            host: s.host.clone(),
            instance: s.instance.clone(),
            last_backup: s.last_backup.clone(),
            last_error: s.last_error.clone(),
            last_result: s.last_result.clone(),
            last_rows: s.last_rows,
            last_rows_per_sec: s.last_rows_per_sec,
            pid: s.pid,
            audit: s.audit,
        }),
        time_since_last_sync: summary.time_since_last_sync,
    }))
}

/// `GET /admin/audit?actor=&entity=&id=&since=&until=&cursor=&limit=`.
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    uri: axum::http::Uri,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    owner_only(&caller)?;
    crate::paging::refuse_offsets(&params, "The audit log")?;
    let query = crate::audit::query_from(&params)?;
    let page = crate::audit::page(&state, query).await?;
    let link = page
        .next_cursor
        .as_deref()
        .and_then(|c| crate::paging::cursor_link(&uri, c, &[]));
    let mut response = ok(page);
    if let Some(link) = link {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, link);
    }
    Ok(response)
}

pub async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    owner_only(&caller)?;
    let v = SyncView::read(&state).await?;
    Ok(ok(AdminStats {
        postgresql: v.status.as_ref().and_then(|s| s.postgres_rows),
        redis: v.rows(&state).await?,
        sync: v.summary(),
    }))
}

pub async fn sync(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    owner_only(&caller)?;
    // As in the reference, no action (or an empty one) is a push; an
    // unknown one is refused rather than run as a push.
    let given = query.get("action").map(String::as_str).unwrap_or("");
    let action = if given.is_empty() { "force" } else { given };
    if !ACTIONS.contains(&action) {
        return Err(ApiError::BadRequest(
            "Query parameter 'action' must be one of force, status, backup, restore".into(),
        ));
    }
    let action = match action {
        "status" => Action::Status,
        "backup" => Action::Backup,
        "restore" => Action::Restore(RestoreArgs {
            discard_pending: flag(&query, "discard_pending")?.unwrap_or(false),
            from: query.get("from").filter(|f| !f.is_empty()).cloned(),
        }),
        _ => Action::Force,
    };
    if !SyncView::read(&state).await?.running() {
        return Err(ApiError::Unavailable("No sync daemon is running".into()));
    }
    let name = action.name();
    let reply = crate::syncd::request(&state, action, state.config.sync_request_timeout).await?;
    if reply.unsupported {
        return Err(ApiError::NotImplemented(
            reply
                .error
                .unwrap_or_else(|| format!("{name} is not supported yet")),
        ));
    }
    let result = match reply.outcome() {
        Ok(result) => result,
        // Refused with nothing changed (say, pending rows PostgreSQL would
        // not take): the owner needs the reason to decide what next.
        Err(ActionError::Refused(e)) if !e.is_empty() => return Err(ApiError::Conflict(e)),
        Err(ActionError::Refused(_)) => {
            return Err(ApiError::Conflict(format!(
                "The sync daemon refused the {name}"
            )));
        }
        Err(ActionError::Failed(e)) => {
            tracing::error!(action = name, error = %e, "syncd could not carry out a request");
            return Err(ApiError::BadGateway(
                "The sync daemon could not carry out the request; see /admin/status".into(),
            ));
        }
    };
    let message = match name {
        "status" => "Sync daemon status",
        "backup" => "Backup completed successfully",
        "restore" => "Restore completed successfully",
        _ => "Sync completed successfully",
    };
    Ok((
        StatusCode::OK,
        Json(SyncDone {
            action: given.to_owned(),
            data: result,
            message,
            success: true,
        }),
    )
        .into_response())
}
