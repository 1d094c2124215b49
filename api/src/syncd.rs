//! Asking syncd: one control request over the control channel and its
//! single answer (see `taskmaster_shared::control`), with every way of
//! getting no answer turned into the api's error.

use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use taskmaster_shared::control::{Action, CallError, ControlReply};

use crate::error::ApiError;
use crate::state::AppState;

/// Publishes one control request and waits up to `wait` for its answer.
pub async fn request(
    state: &AppState,
    action: Action,
    wait: Duration,
) -> Result<ControlReply, ApiError> {
    let id = format!("{:016x}{:016x}", OsRng.next_u64(), OsRng.next_u64());
    match state.store.control_call((id, action), wait).await {
        Ok(reply) => Ok(reply),
        Err(CallError::Redis(e)) => {
            tracing::warn!(error = %e, "control channel unavailable");
            Err(ApiError::Unavailable(
                "Storage temporarily unavailable; retry shortly".into(),
            ))
        }
        Err(CallError::NoDaemon) => {
            Err(ApiError::Unavailable("No sync daemon is listening".into()))
        }
        Err(CallError::Closed) => Err(ApiError::Unavailable(
            "Lost the connection to Redis while waiting for the sync daemon".into(),
        )),
        Err(CallError::TimedOut) => Err(ApiError::GatewayTimeout(format!(
            "The sync daemon did not answer within {}s",
            wait.as_secs()
        ))),
    }
}
