//! The change feed's answers.

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// One feed message, as `GET /ws`, `GET /events` and `GET /changes` carry
/// it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "1733390000000-0", "type": "task_updated",
    "data": {"id": 17, "title": "Ship the release", "status": false, "priority": 1,
             "deadline": "2026-12-31T00:00:00Z", "information": "", "user_id": 3, "group_id": 1,
             "created_at": "2026-12-04T09:31:00Z", "updated_at": "2026-12-05T10:02:11Z",
             "state": "in_progress", "created_by": 2, "labels": ["release"], "completed_at": null},
    "actor": "2", "at": "2026-12-05T10:02:11Z"
}))]
pub struct FeedMessage {
    /// Its position in the change log: resume after it.
    #[schema(pattern = "^[0-9]+-[0-9]+$")]
    pub id: String,
    /// `{task,user,group}_{created,updated,deleted}`, or `reset` (a restore
    /// replaced the data: read everything again).
    #[serde(rename = "type")]
    pub kind: String,
    /// The row as the REST answers show it; a delete's bare id; `null` for
    /// a reset.
    pub data: serde_json::Value,
    /// Who wrote: a user id, `owner` (the owner header), `anonymous` (a
    /// registration) or `system`.
    pub actor: String,
    /// When (RFC 3339).
    pub at: String,
}

/// `GET /changes`.
#[derive(Serialize, ToSchema)]
pub struct ChangesPage<'a> {
    /// The entries the caller may read after `since`, oldest first.
    #[schema(value_type = Vec<FeedMessage>)]
    pub changes: Vec<&'a RawValue>,
    /// Whether the log holds more after `next`: ask again at once.
    pub more: bool,
    /// The position to ask from next (`since=`): the last entry read,
    /// whether or not the caller could see it.
    #[schema(pattern = "^[0-9]+-[0-9]+$")]
    pub next: String,
    /// `next` while `more` is true, else `null`: the `cursor=` of the next
    /// page, as the other lists have it (a poller keeps asking from
    /// `next`: the log goes on as changes come).
    #[schema(pattern = "^[0-9]+-[0-9]+$")]
    pub next_cursor: Option<String>,
}

/// `POST /auth/ws-ticket`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"ticket": "q8Yb3E0cR0W6bVn0X7v1r2T9sQkLmNoPqRsTuVwXyZa", "expires_in": 30}))]
pub struct WsTicket {
    /// Seconds it stays valid.
    pub expires_in: u64,
    /// Good for one `GET /ws?ticket=…`.
    pub ticket: String,
}
