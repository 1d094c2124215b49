//! The answers about tasks: lists, a written task, search, statistics,
//! batches, filters and labels (field order: see the parent module).

use std::collections::BTreeMap;

use serde::Serialize;
use taskmaster_shared::model::Task;
use utoipa::ToSchema;

pub use crate::report::StateCounts;

/// `GET /groups/{id}/tasks`.
#[derive(Serialize, ToSchema)]
pub struct GroupTasks {
    pub count: usize,
    pub group_id: u64,
    pub tasks: Vec<Task>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// What a paged list answers beyond the reference's fields (absent
/// without paging; the paged answers are written in `crate::paging`,
/// which `tests/it/pages.rs` holds to this shape).
#[derive(Serialize, ToSchema, Default)]
pub struct PageFields {
    /// The `cursor` of the next page; null on the last page. Present on
    /// paged answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false, pattern = "^[A-Za-z0-9_-]+$")]
    pub next_cursor: Option<Option<String>>,
    /// How many tasks the whole list holds, when it was cheap to know
    /// (also `X-Total-Count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, minimum = 0)]
    pub total: Option<u64>,
}

/// `GET /groups/{id}/stats`.
#[derive(Serialize, ToSchema)]
pub struct GroupStats {
    pub completed_tasks: u64,
    pub completion_rate: f64,
    pub group: GroupName,
    /// Tasks past their deadline day (UTC) and not done.
    pub overdue_tasks: u64,
    pub pending_tasks: u64,
    pub state_counts: StateCounts,
    pub total_tasks: u64,
    /// Per member, by full name (`Ann (#7)` where names repeat); a plain
    /// member gets only its own entry.
    pub user_task_counts: BTreeMap<String, u64>,
    pub user_task_counts_by_id: BTreeMap<String, u64>,
    pub users_count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct GroupName {
    pub id: u64,
    pub name: String,
}

// --- tasks -------------------------------------------------------------------

/// `GET /users/{id}/tasks`.
#[derive(Serialize, ToSchema)]
pub struct UserTasks<'a> {
    pub user_id: u64,
    pub tasks: &'a [Task],
    pub count: usize,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `GET /users/{id}/tasks/export?format=json`: every task the caller may
/// see, by id (written as it streams, by `crate::export`).
#[derive(Serialize, ToSchema)]
pub struct UserTasksExport {
    pub user_id: u64,
    pub tasks: Vec<Task>,
}

/// `GET /groups/{id}/tasks/export?format=json` (as [`UserTasksExport`]).
#[derive(Serialize, ToSchema)]
pub struct GroupTasksExport {
    pub group_id: u64,
    pub tasks: Vec<Task>,
}

/// A task written: `POST`, `PUT`, `DELETE /users/{id}/tasks/{tid}` and
/// `…/done`.
#[derive(Serialize, ToSchema)]
pub struct TaskMessage {
    pub message: &'static str,
    pub task: Task,
}

/// `GET /tasks/search`.
#[derive(Serialize, ToSchema)]
pub struct TaskSearch {
    pub count: usize,
    pub query: String,
    pub results: Vec<TaskHit>,
    #[serde(flatten)]
    pub page: PageFields,
}

#[derive(Serialize, ToSchema)]
pub struct TaskHit {
    pub task: Task,
    pub user_id: u64,
}

/// `GET /tasks/stats`: what the caller's role may see. The owner gets
/// every count with `total_users`; a group admin the counts of its groups
/// with `administered_groups`; a user its own with `priority_counts` and
/// `user_id`.
#[derive(Serialize, Default, ToSchema)]
pub struct TaskStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub administered_groups: Option<Vec<u64>>,
    pub completed_tasks: u64,
    pub completion_rate: f64,
    pub group_task_counts: BTreeMap<String, u64>,
    /// Tasks past their deadline day (UTC) and not done.
    pub overdue_tasks: u64,
    pub pending_tasks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_counts: Option<BTreeMap<String, u64>>,
    pub state_counts: StateCounts,
    pub total_tasks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_users: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_task_counts: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_task_counts_by_id: Option<BTreeMap<String, u64>>,
}

/// `POST /tasks/batch`. A delete fills `deleted_*` and answers no updates.
#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_tasks: Option<Vec<Task>>,
    pub total_requested: usize,
    pub updated_count: usize,
    pub updated_tasks: Vec<Task>,
}

/// `GET /tasks/filter`.
#[derive(Serialize, ToSchema)]
pub struct FilterResult {
    pub count: usize,
    pub filters: Filters,
    pub tasks: Vec<Task>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// The filters as sent (`""` when absent).
#[derive(Serialize, ToSchema)]
pub struct Filters {
    pub group_id: String,
    pub label: String,
    pub priority: String,
    pub state: String,
    pub status: String,
    pub user_id: String,
}

/// One label in use in a group, with how many of the caller's visible
/// tasks there carry it.
#[derive(Serialize, ToSchema)]
pub struct LabelCount {
    pub count: u64,
    pub name: String,
}

/// `GET /groups/{id}/labels`: by name, in byte order.
#[derive(Serialize, ToSchema)]
pub struct GroupLabels {
    pub count: usize,
    pub group_id: u64,
    pub labels: Vec<LabelCount>,
}

/// `POST /groups/{id}/labels/rename`.
#[derive(Serialize, ToSchema)]
pub struct LabelRenamed {
    pub from: String,
    pub group_id: u64,
    pub message: &'static str,
    /// How many tasks carried `from` (they carry `to` now).
    pub renamed_tasks: u64,
    pub to: String,
}
