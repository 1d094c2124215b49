//! Imports and the jobs that run them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One row an import did not take, or would not take.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// The field refused; `null` for the row as a whole.
    pub field: Option<String>,
    pub message: String,
    /// The line the row starts on (the header is line 1); `null` for the
    /// file as a whole (a quota it would exceed).
    pub row: Option<u64>,
}

/// An import: its report, and while it runs as a job its progress
/// (`GET /jobs/{id}`).
#[derive(Serialize, ToSchema, Debug, Clone)]
#[schema(example = json!({
    "created": 2, "created_at": "2026-12-05T10:00:00.000000Z", "errors": [
        {"field": "priority", "message": "must be 1 (high), 2 (medium) or 3 (low)", "row": 3}
    ], "errors_total": 1, "finished_at": "2026-12-05T10:00:00.020000Z", "id": 7,
    "ignored_columns": ["id"], "kind": "import", "mode": "partial", "phase": "",
    "reason": null, "rows_done": 3, "rows_total": 3,
    "started_at": "2026-12-05T10:00:00.001000Z", "status": "done",
    "unknown_columns": ["colour"], "user_id": 4
}))]
pub struct ImportJob {
    /// Rows written (and kept: an all-or-nothing import that failed or
    /// was cancelled has undone its own).
    pub created: u64,
    pub created_at: Option<String>,
    /// The first 100 rows refused.
    pub errors: Vec<ImportError>,
    /// How many rows were refused (or would be).
    pub errors_total: u64,
    pub finished_at: Option<String>,
    /// The job's id; `null` for a dry run, which opens none.
    pub id: Option<u64>,
    /// Columns an export writes that no create takes (`id`, `user_id`,
    /// the times, `created_by`).
    pub ignored_columns: Vec<String>,
    /// `import`.
    pub kind: &'static str,
    /// `all_or_nothing`, `partial` or `dry_run`.
    pub mode: &'static str,
    /// While it runs: `queued`, `writing`, or `undoing` (an
    /// all-or-nothing import deleting what it made, before it ends failed
    /// or cancelled); `""` once it ended.
    pub phase: String,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// Rows looked at so far.
    pub rows_done: u64,
    /// Data rows in the file (blank ones not counted).
    pub rows_total: u64,
    pub started_at: Option<String>,
    /// `queued`, `running`, `done`, `failed` or `cancelled`; `validated`
    /// for a dry run.
    pub status: &'static str,
    pub unknown_columns: Vec<String>,
    /// The user the tasks are for.
    pub user_id: u64,
}

/// An import refused as a whole (nothing written): the error, and the
/// report that says why.
#[derive(Serialize, ToSchema)]
pub struct ImportRefused<'a> {
    pub error: &'a str,
    pub report: &'a ImportJob,
    pub success: bool,
}
