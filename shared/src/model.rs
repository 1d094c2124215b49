//! The three row types as stored in Redis hashes (field names are listed in
//! [`crate::keys`]) and as answered on the wire.
//!
//! `User` never serialises its password hash: it is `#[serde(skip)]`, so no
//! endpoint can leak it by accident.

use std::collections::HashMap;

use serde::Serialize;

use crate::domain::{Role, WorkTimes};

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
/// reads pass it through without field-by-field work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 17, "title": "Ship the release", "status": false, "priority": 1,
    "deadline": "2026-12-31", "information": "Tag, build, announce", "user_id": 3, "group_id": 1,
    "created_at": "2026-12-04T09:32:00.5Z", "updated_at": "2026-12-04T09:32:00.5Z"
}))]
pub struct Task {
    #[schema(minimum = 1)]
    pub id: u64,
    #[schema(min_length = 1, max_length = 255)]
    pub title: String,
    /// Done or not.
    pub status: bool,
    /// 1 high, 2 medium, 3 low.
    #[schema(minimum = 1, maximum = 3)]
    pub priority: u8,
    /// `YYYY-MM-DD`, or `""` for none.
    #[schema(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    pub deadline: String,
    #[schema(max_length = 5000)]
    pub information: String,
    pub user_id: u64,
    pub group_id: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Task {
    /// Parses a stored task row (its JSON text).
    pub fn from_json(raw: &[u8]) -> Option<Task> {
        serde_json::from_slice(raw).ok()
    }
}
