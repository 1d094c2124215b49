//! The three row types as stored in Redis hashes (field names are listed in
//! [`crate::keys`]) and as answered on the wire.
//!
//! `User` never serialises its password hash: it is `#[serde(skip)]`, so no
//! endpoint can leak it by accident.

use std::collections::HashMap;

use serde::Serialize;

use crate::domain::{Role, TaskState, WorkTimes};

/// Fields of one Redis hash.
pub type Fields = HashMap<String, String>;

fn get<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.get(name).map(String::as_str).unwrap_or("")
}

fn get_u64(f: &Fields, name: &str) -> Option<u64> {
    f.get(name)?.parse().ok()
}

/// A user as answered (never its password hash). The schemas' limits are
/// literals (utoipa takes no constants); a test holds them to the
/// validation's constants in `crate::domain`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 3, "full_name": "Ann Lee", "role": "group_admin", "group_ids": [1, 4],
    "number": "E-1042", "email": "ann@example.com", "work_times": {"Monday": 8, "Friday": 6.5},
    "active": true, "created_at": "2026-12-04T09:30:00.123456Z", "updated_at": "2026-12-04T09:30:00.123456Z"
}))]
pub struct User {
    #[schema(minimum = 1)]
    pub id: u64,
    #[schema(max_length = 255)]
    pub full_name: String,
    pub role: Role,
    /// Groups the user is a member of, ascending.
    pub group_ids: Vec<u64>,
    #[schema(max_length = 64)]
    pub number: String,
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    pub work_times: WorkTimes,
    /// `false` once deactivated: the user cannot sign in by any method,
    /// its sessions and tokens stop working, its data stays.
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub password_hash: String,
}

impl User {
    /// Builds a user from its hash and its group set; `None` if the hash is
    /// empty (the row does not exist) or malformed.
    pub fn from_fields(f: &Fields, mut group_ids: Vec<u64>) -> Option<User> {
        group_ids.sort_unstable();
        group_ids.dedup();
        Some(User {
            id: get_u64(f, "id")?,
            full_name: get(f, "full_name").to_owned(),
            role: Role::parse(get(f, "role")).ok()?,
            group_ids,
            number: get(f, "number").to_owned(),
            email: get(f, "email").to_owned(),
            work_times: WorkTimes::from_stored(get(f, "work_times")),
            // Absent on rows from before deactivation existed: active.
            active: get(f, "active") != "0",
            created_at: get(f, "created_at").to_owned(),
            updated_at: get(f, "updated_at").to_owned(),
            password_hash: get(f, "pw").to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 1, "name": "Platform", "admin_id": 3,
    "created_at": "2026-12-04T09:31:00.000001Z", "updated_at": "2026-12-04T09:31:00.000001Z"
}))]
pub struct Group {
    #[schema(minimum = 1)]
    pub id: u64,
    #[schema(max_length = 100)]
    pub name: String,
    /// The group admin's user id.
    pub admin_id: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Group {
    pub fn from_fields(f: &Fields) -> Option<Group> {
        Some(Group {
            id: get_u64(f, "id")?,
            name: get(f, "name").to_owned(),
            admin_id: get_u64(f, "admin_id")?,
            created_at: get(f, "created_at").to_owned(),
            updated_at: get(f, "updated_at").to_owned(),
        })
    }
}

/// A task. Stored in Redis as exactly this JSON (see `crate::keys`), so
/// reads pass it through without field-by-field work. The reference's
/// fields come first and are unchanged; `state`, `created_by`, `labels`
/// and `completed_at` follow.
///
/// Rows written before those four existed are read as the task they
/// were: `state` from `status` (`done` or `todo`), no creator, no labels,
/// no completion time ([`StoredTask`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(from = "StoredTask")]
#[schema(example = json!({
    "id": 17, "title": "Ship the release", "status": false, "priority": 1,
    "deadline": "2026-12-31", "information": "Tag, build, announce", "user_id": 3, "group_id": 1,
    "created_at": "2026-12-04T09:32:00.5Z", "updated_at": "2026-12-04T09:32:00.5Z",
    "state": "in_progress", "created_by": 2, "labels": ["release", "urgent"], "completed_at": null
}))]
pub struct Task {
    #[schema(minimum = 1)]
    pub id: u64,
    #[schema(min_length = 1, max_length = 255)]
    pub title: String,
    /// Done or not: true exactly when `state` is `done`.
    pub status: bool,
    /// 1 high, 2 medium, 3 low.
    #[schema(minimum = 1, maximum = 3)]
    pub priority: u8,
    /// `YYYY-MM-DD`, or `""` for none.
    #[schema(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    pub deadline: String,
    #[schema(max_length = 5000)]
    pub information: String,
    /// The user the task is assigned to.
    pub user_id: u64,
    pub group_id: u64,
    pub created_at: String,
    pub updated_at: String,
    pub state: TaskState,
    /// The account that created the task (a group admin creating for a
    /// member it manages, the owner account for the owner); `null` for
    /// tasks created before this was recorded. Never writable.
    #[schema(minimum = 1)]
    pub created_by: Option<u64>,
    /// A set, in byte order: 1 to 50 characters each, at most 20.
    #[schema(value_type = Vec<crate::domain::Label>, max_items = 20)]
    pub labels: Vec<String>,
    /// When the task last entered `done`; `null` while it is not done (and
    /// for tasks done before this was recorded).
    pub completed_at: Option<String>,
}

/// A task row as stored, in either shape: with the four later fields, or
/// without them (written before they existed).
#[derive(serde::Deserialize)]
pub struct StoredTask {
    id: u64,
    title: String,
    status: bool,
    priority: u8,
    deadline: String,
    information: String,
    user_id: u64,
    group_id: u64,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    state: Option<TaskState>,
    #[serde(default)]
    created_by: Option<u64>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    completed_at: Option<String>,
}

impl From<StoredTask> for Task {
    fn from(s: StoredTask) -> Task {
        let state = s.state.unwrap_or(TaskState::of_status(s.status));
        Task {
            id: s.id,
            title: s.title,
            // Derived, whatever a damaged row says.
            status: state.is_done(),
            priority: s.priority,
            deadline: s.deadline,
            information: s.information,
            user_id: s.user_id,
            group_id: s.group_id,
            created_at: s.created_at,
            updated_at: s.updated_at,
            state,
            created_by: s.created_by,
            labels: s.labels,
            completed_at: s.completed_at.filter(|_| state.is_done()),
        }
    }
}

/// Whether a stored task row has the current shape (the four later
/// fields), judged from its last bytes alone: every current row ends with
/// `,"completed_at":null}` or `,"completed_at":"<timestamp>"}`, and no
/// older row has that key. A row of the older shape is parsed and written
/// out again before it is answered.
pub fn is_current_task_row(raw: &[u8]) -> bool {
    const KEY: &[u8] = b",\"completed_at\":";
    // The key, a timestamp of at most 32 bytes in quotes, and `}`.
    let tail = &raw[raw.len().saturating_sub(KEY.len() + 35)..];
    tail.windows(KEY.len()).any(|w| w == KEY)
}

/// A stored row in the current shape: as it is, or (a row written before
/// the task's later fields existed) parsed and written out again. `None`
/// for a damaged row.
pub fn current_task_row(raw: Vec<u8>) -> Option<Vec<u8>> {
    if is_current_task_row(&raw) {
        return Some(raw);
    }
    serde_json::to_vec(&Task::from_json(&raw)?).ok()
}

impl Task {
    /// Parses a stored task row (its JSON text), of either shape.
    pub fn from_json(raw: &[u8]) -> Option<Task> {
        serde_json::from_slice(raw).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD_ROW: &str = r#"{"id":4,"title":"t","status":true,"priority":2,"deadline":"","information":"","user_id":3,"group_id":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00.123456Z"}"#;

    #[test]
    fn a_row_from_before_states_reads_as_done_or_todo_by_its_status() {
        let done = Task::from_json(OLD_ROW.as_bytes()).expect("old row");
        assert_eq!(done.state, TaskState::Done);
        assert!(done.status);
        assert_eq!(done.created_by, None);
        assert!(done.labels.is_empty());
        assert_eq!(done.completed_at, None);
        let open = Task::from_json(OLD_ROW.replace("true", "false").as_bytes()).expect("old row");
        assert_eq!(open.state, TaskState::Todo);
        assert!(!is_current_task_row(OLD_ROW.as_bytes()));
    }

    #[test]
    fn the_current_shape_is_told_from_its_last_bytes() {
        let mut task = Task::from_json(OLD_ROW.as_bytes()).expect("old row");
        let now = serde_json::to_vec(&task).expect("serialised");
        assert!(is_current_task_row(&now));
        task.completed_at = Some("2026-12-04T09:32:00.123456789Z".into());
        task.labels = vec!["x".repeat(50)];
        let now = serde_json::to_vec(&task).expect("serialised");
        assert!(is_current_task_row(&now));
        assert_eq!(Task::from_json(&now), Some(task));
        // A title can hold the key's text only escaped, and never last.
        let tricky = OLD_ROW.replace(r#""t""#, r#""","completed_at":null}""#);
        assert!(!is_current_task_row(tricky.as_bytes()));
    }

    #[test]
    fn status_always_follows_the_state() {
        let row = OLD_ROW.replace(
            r#""updated_at":"2026-01-02T00:00:00.123456Z"}"#,
            r#""updated_at":"x","state":"in_progress","created_by":3,"labels":["a"],"completed_at":"y"}"#,
        );
        let t = Task::from_json(row.as_bytes()).expect("row");
        assert_eq!(t.state, TaskState::InProgress);
        assert!(!t.status);
        assert_eq!(t.completed_at, None);
        assert_eq!(t.labels, ["a"]);
    }
}
