//! `GET /users/{id}/tasks/{tid}/history`: one task's audit records, newest
//! first, for whoever may read the task (see [`crate::audit`]).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;

use crate::access::readable_task;
use crate::answers::ok;
use crate::auth::Credentials;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn history(
    State(state): State<AppState>,
    credentials: Credentials,
    Path((id, tid)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    readable_task(&state, &credentials, &id, &tid).await?;
    // The task's own records, whatever else the parameters name.
    let mut query = crate::audit::query_from(&params)?;
    query.actor = None;
    query.entity = Some("task".to_owned());
    query.entity_id = Some(tid);
    Ok(ok(crate::audit::page(&state, query).await?))
}
