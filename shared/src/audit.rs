//! The audit log: one [`Record`] per change log entry (`P changes`, see
//! [`crate::keys`]), and the [`Query`] that reads it.
//!
//! syncd's audit consumer turns every entry into a record and appends it
//! to PostgreSQL's `audit_log` (migration V6); the api reads the entries
//! PostgreSQL may not hold yet from the stream and turns them into records
//! the same way ([`Record::from_entry`]), and asks syncd for the rest
//! ([`crate::control::Action::Audit`]). So a record reads the same
//! whichever store it came from.
//!
//! `changes` is, for an update, `{"field": [old, new]}` of the fields that
//! changed (a password only as `"password": "changed"`), and for a create
//! or a delete the row as the REST answers show it (never a password hash).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Fields, Group, User};
use crate::position::Position;
use crate::webhook::Webhook;

/// Records one page holds at most.
pub const MAX_LIMIT: u32 = 200;
/// Records a page holds when the request does not say.
pub const DEFAULT_LIMIT: u32 = 50;

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "1733390000000-0", "at": "2026-12-05T09:31:00.000001Z", "actor": "3",
    "auth": "session", "token_id": "Yv3k9Qm2d8Lq0sXcT1bNfA", "request_id": "9f2c1a0b-1f",
    "action": "updated", "entity": "task", "entity_id": "17",
    "changes": {"priority": [1, 3], "state": ["todo", "in_progress"]}
}))]
pub struct Record {
    /// The change log position: records sort by it, and it is the cursor.
    pub id: String,
    /// When the change was made (RFC 3339).
    pub at: String,
    /// A user id, `owner` (the owner header), `anonymous` (a registration)
    /// or `system`.
    pub actor: String,
    /// How the actor authenticated: `session`, `cookie`, `token`,
    /// `basic`, `owner_header`; `none` (anonymous) or `system`.
    pub auth: String,
    /// The login session's id or the personal token's (never a secret).
    pub token_id: Option<String>,
    /// The request that made the change (its `X-Request-Id`).
    pub request_id: Option<String>,
    /// `created`, `updated`, `deleted` (`restored` for a restore).
    pub action: String,
    /// `task`, `user`, `group`, `token` (a personal API token),
    /// `session` (login sessions ended), `webhook` or `reset` (a
    /// restore).
    pub entity: String,
    pub entity_id: String,
    /// See the module's documentation; `null` when there is nothing more
    /// to say.
    #[schema(value_type = Option<Object>)]
    pub changes: Value,
}

impl Record {
    /// The record of one change log entry, from its stream fields. Lenient:
    /// an entry from before a field existed gives what it has.
    pub fn from_entry(position: Position, fields: &[(String, Vec<u8>)]) -> Record {
        let get = |name: &str| field(fields, name);
        let text = |name: &str| get(name).unwrap_or_default().to_owned();
        let given = |name: &str| {
            get(name)
                .filter(|v| !v.is_empty() && *v != "-")
                .map(str::to_owned)
        };
        let entity = text("type");
        let action = text("op");
        let changes = match (entity.as_str(), action.as_str()) {
            (_, "updated") => get("changes").map_or(Value::Null, |c| typed_changes(&entity, c)),
            ("task" | "user" | "group" | "webhook", _) => entry_row(fields),
            ("token", _) => get("user")
                .and_then(|u| u.parse::<u64>().ok())
                .map_or(Value::Null, |u| serde_json::json!({ "user_id": u })),
            _ => Value::Null,
        };
        Record {
            id: position.to_string(),
            at: text("at"),
            actor: text("actor"),
            auth: given("auth").unwrap_or_else(|| "unknown".to_owned()),
            token_id: given("token"),
            request_id: given("request"),
            action,
            entity,
            entity_id: text("id"),
            changes,
        }
    }

    /// Its position (`None` only for a record that did not come from the
    /// log).
    pub fn position(&self) -> Option<Position> {
        Position::parse(&self.id)
    }
}

/// Field `name` of a change log entry, when it is there and is text.
pub fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(f, _)| f == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The row a change log entry carries (after the write; a delete's as it
/// was) as the REST answers show it; `null` when it has none.
pub fn entry_row(fields: &[(String, Vec<u8>)]) -> Value {
    let get = |name: &str| field(fields, name);
    match (get("type"), get("row")) {
        (Some("task"), Some(row)) => serde_json::from_str(row).unwrap_or(Value::Null),
        (Some(entity @ ("user" | "group" | "webhook")), Some(row)) => typed_row(entity, row),
        _ => Value::Null,
    }
}

/// A user or group row (hash fields as strings) as the REST answers show
/// it.
fn typed_row(entity: &str, row: &str) -> Value {
    let Ok(fields) = serde_json::from_str::<Fields>(row) else {
        return Value::Null;
    };
    let value = match entity {
        "user" => {
            let groups = fields.get("groups").map(|g| ids(g)).unwrap_or_default();
            User::from_fields(&fields, groups).and_then(|u| serde_json::to_value(u).ok())
        }
        "webhook" => {
            // The log never carries the secret; the row is read without it.
            let mut fields = fields;
            fields.insert("secret".into(), String::new());
            Webhook::from_fields(&fields).and_then(|w| serde_json::to_value(w).ok())
        }
        _ => Group::from_fields(&fields).and_then(|g| serde_json::to_value(g).ok()),
    };
    value.unwrap_or(Value::Null)
}

fn ids(text: &str) -> Vec<u64> {
    text.split(',').filter_map(|s| s.parse().ok()).collect()
}

/// An update's changes: a task's are typed already; a user's or group's
/// compare stored strings, typed here as the REST answers type them.
fn typed_changes(entity: &str, changes: &str) -> Value {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(changes) else {
        return Value::Null;
    };
    if entity == "task" {
        return Value::Object(map);
    }
    let mut out = Map::new();
    for (field, pair) in map {
        let (name, pair) = match (field.as_str(), pair) {
            (_, Value::Array(pair)) if pair.len() == 2 => {
                let typed: Vec<Value> = pair.into_iter().map(|v| typed_value(&field, v)).collect();
                let name = if field == "groups" {
                    "group_ids".to_owned()
                } else {
                    field
                };
                (name, Value::Array(typed))
            }
            (_, other) => (field, other),
        };
        out.insert(name, pair);
    }
    Value::Object(out)
}

fn typed_value(field: &str, value: Value) -> Value {
    let Value::String(s) = value else {
        return value;
    };
    match field {
        "active" => Value::Bool(s != "0"),
        "admin_id" => s.parse::<u64>().map_or(Value::String(s), Value::from),
        "groups" => Value::from(ids(&s)),
        "events" => Value::from(
            s.split(',')
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ),
        "work_times" => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        _ => Value::String(s),
    }
}

/// What to read: the filters of `GET /admin/audit` (a task's history is
/// `entity=task&id=…`), newest first. Bounds are positions, so that both
/// stores answer them the same way: `before` excludes, `since` and
/// `until` are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Records at or after this position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Position>,
    /// Records at or before this position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Position>,
    /// Records strictly before this position (the cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Position>,
    pub limit: u32,
}

impl Query {
    /// Whether `record` passes the filters (not the bounds).
    pub fn matches(&self, record: &Record) -> bool {
        self.actor.as_deref().is_none_or(|a| a == record.actor)
            && self.entity.as_deref().is_none_or(|e| e == record.entity)
            && self
                .entity_id
                .as_deref()
                .is_none_or(|i| i == record.entity_id)
    }
}

/// One page of records, newest first, as syncd answers a query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub records: Vec<Record>,
    /// More records pass the query beyond the last one.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    const AT: Position = Position { ms: 5, seq: 1 };

    #[test]
    fn an_update_records_its_changes_typed_as_the_answers_type_them() {
        let user = entry(&[
            ("type", "user"),
            ("op", "updated"),
            ("id", "4"),
            ("actor", "owner"),
            ("auth", "owner_header"),
            ("token", "-"),
            ("request", "r-1"),
            ("at", "T"),
            (
                "changes",
                r#"{"active":["1","0"],"groups":["1,2","2"],"password":"changed","role":["user","group_admin"],"work_times":["{}","{\"Monday\":8}"]}"#,
            ),
        ]);
        let r = Record::from_entry(AT, &user);
        assert_eq!(r.id, "5-1");
        assert_eq!((r.token_id, r.request_id.as_deref()), (None, Some("r-1")));
        assert_eq!(
            r.changes,
            serde_json::json!({
                "active": [true, false], "group_ids": [[1, 2], [2]], "password": "changed",
                "role": ["user", "group_admin"], "work_times": [{}, {"Monday": 8}]
            })
        );
    }

    #[test]
    fn a_create_or_delete_records_the_row_without_its_password() {
        let row = r#"{"id":"4","full_name":"A","email":"a@x","role":"user","number":"","work_times":"{}","active":"1","created_at":"T","updated_at":"T","groups":"3,1"}"#;
        for op in ["created", "deleted"] {
            let r = Record::from_entry(
                AT,
                &entry(&[("type", "user"), ("op", op), ("id", "4"), ("row", row)]),
            );
            assert_eq!(r.changes["group_ids"], serde_json::json!([1, 3]), "{op}");
            assert_eq!(r.changes["active"], Value::Bool(true));
            assert!(r.changes.get("password_hash").is_none() && r.changes.get("pw").is_none());
            assert_eq!(r.auth, "unknown", "an entry from before auth was logged");
        }
        let token = Record::from_entry(
            AT,
            &entry(&[
                ("type", "token"),
                ("op", "created"),
                ("id", "abc"),
                ("user", "4"),
            ]),
        );
        assert_eq!(token.changes, serde_json::json!({"user_id": 4}));
    }

    #[test]
    fn queries_travel_as_json_with_positions_as_text() {
        let q = Query {
            entity: Some("task".into()),
            before: Some(AT),
            limit: 3,
            ..Query::default()
        };
        let text = serde_json::to_string(&q).expect("json");
        assert_eq!(text, r#"{"entity":"task","before":"5-1","limit":3}"#);
        assert_eq!(serde_json::from_str::<Query>(&text).expect("back"), q);
        assert!(serde_json::from_str::<Query>(r#"{"before":"x","limit":1}"#).is_err());
    }
}
