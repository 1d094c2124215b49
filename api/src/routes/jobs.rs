//! `GET /jobs/{id}` and `DELETE /jobs/{id}`: a background job (an
//! import, see `crate::import`) as it stands, and its cancellation. A job
//! is visible to its creator and the owner only; to anyone else it does
//! not exist (404, as for an id never handed out).

use axum::extract::{Path, State};
use axum::response::Response;
use taskmaster_shared::domain::parse_id;

use crate::answers::ok;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::idempotency;
use crate::import::report;
use crate::state::AppState;
use crate::store::{JobOp, JobRecord, Refusal};

fn not_found() -> ApiError {
    ApiError::NotFound("Job not found".into())
}

/// Job `id` when the caller may see it.
async fn visible_job(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(u64, JobRecord), ApiError> {
    let id = parse_id(id).ok_or_else(|| ApiError::BadRequest("Invalid job ID".into()))?;
    let record = state.store.job(id).await?.ok_or_else(not_found)?;
    if !report::visible_to(&record, &idempotency::principal(caller), caller.is_owner()) {
        return Err(not_found());
    }
    Ok((id, record))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, record) = visible_job(&state, &caller, &id).await?;
    Ok(ok(report::answer(&record)))
}

/// Cancels a job that has not ended: a partial import keeps the rows it
/// wrote, an all-or-nothing one undoes them first (it answers `running`
/// with phase `undoing` until it has). 409 for a job that has ended.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (id, _) = visible_job(&state, &caller, &id).await?;
    match state
        .store
        .job_control(JobOp::Cancel, id, "", &crate::clock::now())
        .await?
    {
        Ok(_) => {}
        Err(Refusal::JobEnded(status)) => {
            return Err(ApiError::Conflict(format!(
                "The job has ended ({status}): there is nothing to cancel"
            )));
        }
        Err(Refusal::JobGone) => return Err(not_found()),
        Err(other) => return Err(ApiError::Internal(format!("job cancel: {other:?}").into())),
    }
    let record = state.store.job(id).await?.ok_or_else(not_found)?;
    Ok(ok(report::answer(&record)))
}
