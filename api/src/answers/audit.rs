//! The audit log's answers.

use serde::Serialize;
use taskmaster_shared::audit::Record;
use utoipa::ToSchema;

/// `GET /admin/audit`, `GET /users/{id}/tasks/{tid}/history`: records
/// newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<Record>,
    /// Pass as `cursor=` for the next (older) page; `null` when there is
    /// none. A page may hold fewer than `limit` records and still have
    /// one: follow it until it is `null`.
    #[schema(pattern = "^[0-9]+-[0-9]+$")]
    pub next_cursor: Option<String>,
}
