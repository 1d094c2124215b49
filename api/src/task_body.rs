//! Task request bodies and their validation: parsed as sent, then judged
//! once into the store's typed values. An imported row (see
//! [`crate::import`]) becomes a [`CreateTask`] and is judged by the same
//! [`CreateTask::validate`] as a sent one.

use serde::Deserialize;
use taskmaster_shared::domain::{
    self, Deadline, FieldError, GroupId, Label, Labels, Priority, TaskState,
};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::store::{TaskAction, TaskChangeSet};

/// Most tasks one batch may name.
pub const BATCH_MAX: usize = 1000;

/// `POST /users/{id}/tasks`. Field names match in any case.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "title": "Ship the release", "group_id": 1, "priority": 1,
    "deadline": "2026-12-31", "information": "Tag, build, announce",
    "state": "in_progress", "labels": ["release"]
}))]
pub struct CreateTask {
    #[schema(required = true, min_length = 1, max_length = 255)]
    pub(crate) title: Option<String>,
    /// A group the task's user is a member of.
    #[schema(required = true, value_type = Option<u64>, minimum = 1)]
    pub(crate) group_id: Option<i64>,
    /// 1 high, 2 medium (the default; so is 0), 3 low.
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 3)]
    pub(crate) priority: Option<i64>,
    /// `YYYY-MM-DD` or `""`.
    #[schema(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    pub(crate) deadline: Option<String>,
    #[schema(max_length = 5000)]
    pub(crate) information: Option<String>,
    /// `todo` (the default), `in_progress` or `done`.
    #[schema(value_type = Option<TaskState>)]
    pub(crate) state: Option<String>,
    /// At most 20 labels of 1 to 50 characters (duplicates merge).
    #[schema(value_type = Option<Vec<Label>>, max_items = 20)]
    pub(crate) labels: Option<Vec<String>>,
}

/// A validated `POST /users/{id}/tasks` body.
pub struct NewTask {
    pub title: String,
    pub group_id: GroupId,
    pub priority: Priority,
    pub deadline: Deadline,
    pub information: String,
    pub state: TaskState,
    pub labels: Labels,
}

/// A create refused: the field and why. `bare` errors are answered with
/// their message alone, as the reference words them ("Title is
/// required").
pub struct Refused {
    pub error: FieldError,
    pub bare: bool,
}

impl From<FieldError> for Refused {
    fn from(error: FieldError) -> Self {
        Refused { error, bare: false }
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        if r.bare {
            ApiError::Unprocessable(r.error.message)
        } else {
            r.error.into()
        }
    }
}

fn required(field: &'static str, message: &str) -> Refused {
    Refused {
        error: FieldError::new(field, message),
        bare: true,
    }
}

impl CreateTask {
    pub fn validate(self) -> Result<NewTask, ApiError> {
        Ok(self.judge()?)
    }

    /// [`CreateTask::validate`] with the field that was refused.
    pub fn judge(self) -> Result<NewTask, Refused> {
        let title = match self.title.as_deref() {
            None | Some("") => return Err(required("title", "Title is required")),
            Some(t) => domain::title(t)?,
        };
        let group_id = match self.group_id {
            None | Some(0) => return Err(required("group_id", "Group ID is required")),
            Some(g) => group(g)?,
        };
        Ok(NewTask {
            title,
            group_id,
            // 0 is the reference's "not set" (its default): ours then.
            priority: self
                .priority
                .filter(|p| *p != 0)
                .map(Priority::parse)
                .transpose()?
                .unwrap_or(Priority::DEFAULT),
            deadline: Deadline::parse(self.deadline.as_deref().unwrap_or(""))?,
            information: domain::information(self.information.as_deref().unwrap_or(""))?,
            state: state(self.state.as_deref())?.unwrap_or(TaskState::Todo),
            labels: labels("labels", self.labels.as_deref())?.unwrap_or_default(),
        })
    }
}

/// A `state` sent; `""` is "not set", like the reference's zero values.
fn state(s: Option<&str>) -> Result<Option<TaskState>, FieldError> {
    s.filter(|s| !s.is_empty())
        .map(|s| TaskState::parse("state", s))
        .transpose()
}

fn labels(field: &'static str, list: Option<&[String]>) -> Result<Option<Labels>, FieldError> {
    list.map(|l| Labels::parse(field, l)).transpose()
}

fn group(g: i64) -> Result<GroupId, FieldError> {
    u64::try_from(g)
        .map(GroupId)
        .map_err(|_| FieldError::new("group_id", format!("{g} is not a valid group id")))
}

/// The changeable fields of a task (`PUT /users/{id}/tasks/{tid}` and a
/// batch's `updates`). Absent fields, `title: ""`, `priority: 0`,
/// `state: ""` and `group_id: 0` are unchanged; `deadline: ""` and
/// `information: ""` clear; `labels: []` removes every label.
/// `created_by` and `completed_at` are not writable (ignored, as every
/// field this type does not name).
#[derive(Deserialize, Default, ToSchema)]
pub struct TaskChanges {
    #[schema(max_length = 255)]
    title: Option<String>,
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 3)]
    priority: Option<i64>,
    #[schema(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    deadline: Option<String>,
    #[schema(max_length = 5000)]
    information: Option<String>,
    /// `true` moves the task to `done`, `false` moves a done task back
    /// to `todo`.
    status: Option<bool>,
    /// `todo`, `in_progress` or `done`. When `status` is sent too and
    /// disagrees, the one that changes the task wins (`state` if both
    /// would).
    #[schema(value_type = Option<TaskState>)]
    state: Option<String>,
    /// The task's new labels (at most 20 of 1 to 50 characters).
    #[schema(value_type = Option<Vec<Label>>, max_items = 20)]
    labels: Option<Vec<String>>,
    /// Labels to add to each task's own (the result holds at most 20).
    #[schema(value_type = Option<Vec<Label>>, max_items = 20)]
    add_labels: Option<Vec<String>>,
    /// Labels to take off each task's own (after `add_labels`).
    #[schema(value_type = Option<Vec<Label>>, max_items = 20)]
    remove_labels: Option<Vec<String>>,
    #[schema(value_type = Option<u64>)]
    group_id: Option<i64>,
}

impl TaskChanges {
    /// An empty `title`, a `priority` of 0 and a `group_id` of 0 mean
    /// "unchanged" (what the reference system's clients send for a field
    /// they did not set); `deadline: ""` clears the deadline and
    /// `information: ""` clears the notes.
    pub fn validate(self) -> Result<TaskChangeSet, FieldError> {
        Ok(TaskChangeSet {
            title: self
                .title
                .filter(|t| !t.is_empty())
                .map(|t| domain::title(&t))
                .transpose()?,
            priority: self
                .priority
                .filter(|p| *p != 0)
                .map(Priority::parse)
                .transpose()?,
            deadline: self.deadline.map(|d| Deadline::parse(&d)).transpose()?,
            information: self
                .information
                .map(|i| domain::information(&i))
                .transpose()?,
            status: self.status,
            state: state(self.state.as_deref())?,
            labels: labels("labels", self.labels.as_deref())?,
            add_labels: labels("add_labels", self.add_labels.as_deref())?.unwrap_or_default(),
            remove_labels: labels("remove_labels", self.remove_labels.as_deref())?
                .unwrap_or_default(),
            group: match self.group_id {
                None | Some(0) => None,
                Some(g) => Some(group(g)?),
            },
            unchanged_from: None,
        })
    }
}

/// `POST /tasks/batch`: all or nothing.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"task_ids": [17, 18], "action": "update", "updates": {"priority": 3}}))]
pub struct Batch {
    /// 1 to 1000 task ids.
    #[schema(required = true, value_type = Option<Vec<u64>>, min_items = 1, max_items = 1000)]
    task_ids: Option<Vec<i64>>,
    #[schema(required = true, value_type = Option<String>, examples("complete", "incomplete", "delete", "update"))]
    action: Option<String>,
    /// For `update`: the fields to change.
    updates: Option<TaskChanges>,
}

/// A validated batch.
pub struct ValidBatch {
    /// As many as were sent (duplicates included).
    pub requested: usize,
    /// Distinct, in the order sent.
    pub ids: Vec<u64>,
    pub action: TaskAction,
    pub changes: TaskChangeSet,
}

impl Batch {
    pub fn validate(self) -> Result<ValidBatch, ApiError> {
        let raw_ids = self.task_ids.unwrap_or_default();
        if raw_ids.is_empty() {
            return Err(ApiError::Unprocessable("Task IDs are required".into()));
        }
        if raw_ids.len() > BATCH_MAX {
            return Err(FieldError::new(
                "task_ids",
                format!("at most {BATCH_MAX} tasks per batch"),
            )
            .into());
        }
        let mut ids = Vec::with_capacity(raw_ids.len());
        for id in &raw_ids {
            let id = u64::try_from(*id).ok().filter(|&n| n > 0).ok_or_else(|| {
                FieldError::new("task_ids", format!("{id} is not a valid task id"))
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let action = match self.action.as_deref().unwrap_or_default() {
            "" | "update" => TaskAction::Update,
            "mark_done" => TaskAction::MarkDone,
            "delete" => TaskAction::Delete,
            other => {
                return Err(FieldError::new(
                    "action",
                    format!("`{other}` is not one of update, mark_done, delete"),
                )
                .into());
            }
        };
        // An update that names nothing to change (no `updates`, or only the
        // reference's "not set" values) still answers the tasks, as a single
        // task's PUT with `{}` does.
        let changes = match action {
            TaskAction::Update => self.updates.unwrap_or_default().validate()?,
            _ => TaskChangeSet::default(),
        };
        Ok(ValidBatch {
            requested: raw_ids.len(),
            ids,
            action,
            changes,
        })
    }
}
