//! Webhooks: a registered hook as stored in Redis (`P webhook:{id}`, see
//! [`crate::keys`]) and PostgreSQL (`webhooks`), and the events it may
//! name.
//!
//! A hook is the owner's (global, no group) or a group's (made by the
//! group's admin, it receives only what concerns the group). Its `secret`
//! signs every delivery; it is shown once, when the hook is made, and never
//! serialised ([`Webhook`] skips it).

use serde::Serialize;

use crate::model::Fields;

/// The events a hook may name: each row type's three, or all of one
/// type's (`task.*`).
pub const EVENTS: [&str; 12] = [
    "task.created",
    "task.updated",
    "task.deleted",
    "task.*",
    "user.created",
    "user.updated",
    "user.deleted",
    "user.*",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.*",
];

/// A registered webhook, as answered (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 3, "group_id": 1, "url": "https://hooks.example.com/taskmaster",
    "events": ["task.created", "task.updated"], "active": true, "created_by": 2,
    "created_at": "2026-12-05T09:31:00Z", "updated_at": "2026-12-05T09:31:00Z"
}))]
pub struct Webhook {
    #[schema(minimum = 1)]
    pub id: u64,
    /// The group whose events it receives; `null`: the owner's, for every
    /// event.
    pub group_id: Option<u64>,
    #[schema(max_length = 2048)]
    pub url: String,
    /// Sorted, without repeats.
    pub events: Vec<String>,
    pub active: bool,
    /// Who made it (`null`: the owner header).
    pub created_by: Option<u64>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub secret: String,
}

impl Webhook {
    /// Reads a hook from its hash; `None` when the hash is empty or
    /// malformed.
    pub fn from_fields(f: &Fields) -> Option<Webhook> {
        let get = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
        let number = |name: &str| get(name).parse::<u64>().ok();
        let events: Vec<String> = get("events")
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Webhook {
            id: number("id")?,
            group_id: number("group"),
            url: f.get("url")?.clone(),
            events,
            active: get("active") != "0",
            created_by: number("created_by"),
            created_at: get("created_at").to_owned(),
            updated_at: get("updated_at").to_owned(),
            secret: f.get("secret")?.clone(),
        })
    }

    /// Whether it receives `event` (`task.created`, …).
    pub fn wants(&self, event: &str) -> bool {
        let kind = event.split('.').next().unwrap_or_default();
        self.events
            .iter()
            .any(|e| e == event || e.strip_suffix(".*") == Some(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_hook_reads_from_its_hash_and_never_shows_its_secret() {
        let hook = Webhook::from_fields(&fields(&[
            ("id", "3"),
            ("group", ""),
            ("url", "https://x.example/h"),
            ("events", "task.*,user.deleted"),
            ("active", "1"),
            ("secret", "s3cr3t-s3cr3t-s3cr3t"),
            ("created_at", "T"),
            ("updated_at", "T"),
        ]))
        .expect("a hook");
        assert_eq!((hook.group_id, hook.created_by), (None, None));
        assert!(hook.wants("task.updated") && hook.wants("user.deleted"));
        assert!(!hook.wants("user.created") && !hook.wants("group.deleted"));
        let json = serde_json::to_string(&hook).expect("json");
        assert!(!json.contains("s3cr3t"), "{json}");
        assert!(Webhook::from_fields(&fields(&[("id", "3")])).is_none());
    }
}
