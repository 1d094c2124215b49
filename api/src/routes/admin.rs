//! `/admin/status`, `/admin/stats`, `/admin/sync`: the owner's view of the
//! write-behind, and the way to ask syncd for work; `/admin/audit`: the
//! audit log (see [`crate::audit`]).
//!
//! syncd's heartbeat keeps a status record in Redis (with a TTL); when it
//! is missing or stale, no syncd runs. Requests go over the control channel
//! and wait for syncd's single answer (`SYNC_REQUEST_TIMEOUT`, then 504).

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use taskmaster_shared::control::{
    Action, ActionError, Counts, HEARTBEAT_SECS, RestoreArgs, SyncdStatus,
};

use crate::answers::{
    AdminStats, AdminStatus, Configuration, PostgresView, RedisView, SyncDone, SyncSummary,
    SyncdView, ok,
};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::flag;
use crate::state::AppState;

/// What `POST /admin/sync?action=` takes; the spec states them from here.
pub const ACTIONS: [&str; 4] = ["force", "status", "backup", "restore"];

const NEVER: &str = "0001-01-01T00:00:00Z";

fn owner_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_owner() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Insufficient permissions".into()))
    }
}

/// What Redis says about the write-behind right now.
struct SyncView {
    status: Option<SyncdStatus>,
    pending: Counts,
    rows: Counts,
}

async fn view(state: &AppState) -> Result<SyncView, ApiError> {
    let counts = state.store.sync_counts().await?;
    Ok(SyncView {
        status: counts.status,
        pending: counts.pending,
        rows: Counts {
            users: counts.users,
            groups: counts.groups,
            // Tasks have no set of all ids: counted from every user's task set.
            tasks: state.store.task_count().await?,
            webhooks: counts.webhooks,
        },
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl SyncView {
    /// A syncd whose heartbeat is recent.
    fn running(&self) -> bool {
        self.status
            .as_ref()
            .and_then(|s| parse_time(&s.heartbeat_at))
            .is_some_and(|at| (Utc::now() - at).num_seconds() < 3 * HEARTBEAT_SECS as i64 + 1)
    }

    /// The reference's seven sync keys. Healthy means: running, the last
    /// flush did not fail, and nothing has waited longer than two intervals
    /// (an idle system is healthy, unlike in the reference).
    fn summary(&self) -> SyncSummary {
        let running = self.running();
        let status = self.status.as_ref();
        let last_sync = status.and_then(|s| s.last_sync.clone());
        let since = last_sync
            .as_deref()
            .and_then(parse_time)
            .map(|t| (Utc::now() - t).to_std().unwrap_or_default());
        let interval = status.map(|s| Duration::from_secs(s.interval_secs));
        let dirty_types: Vec<&str> = [
            ("users", self.pending.users),
            ("groups", self.pending.groups),
            ("tasks", self.pending.tasks),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| t)
        .collect();
        let fresh = match (since, interval) {
            (Some(since), Some(interval)) => since <= interval * 2,
            _ => false,
        };
        let healthy = running
            && status.and_then(|s| s.last_result.as_deref()) != Some("error")
            && (self.pending.total() == 0 || fresh);
        SyncSummary {
            dirty_types,
            healthy,
            interval: status.map(|s| s.interval.clone()),
            last_sync: last_sync.unwrap_or_else(|| NEVER.to_owned()),
            pending_changes: self.pending.total() > 0,
            running,
            time_since_last_sync: since.map(taskmaster_shared::duration::format_go),
        }
    }
}

pub async fn status(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    owner_only(&caller)?;
    let v = view(&state).await?;
    let summary = v.summary();
    let status = v.status.as_ref();
    // Reading the view just now went through Redis: it is connected.
    let postgres_status = if v.running() {
        status.map(|s| s.postgres_status.clone())
    } else {
        None
    }
    .unwrap_or_else(|| "unknown".to_owned());
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
    let v = view(&state).await?;
    Ok(ok(AdminStats {
        postgresql: v.status.as_ref().and_then(|s| s.postgres_rows),
        redis: v.rows,
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
    if !view(&state).await?.running() {
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
