//! One change log entry, as the api reads it from `P changes` (the fields
//! are laid out in `shared/src/keys/mod.rs`): what decides who may see it, and
//! the message those who may receive.
//!
//! A message is rendered once per entry and shared by every connection:
//! `{"id":"<position>","type":"task_updated","data":<row>,"actor":"3","at":"…"}`.
//! `type` is seed 003's (`task_created`, `task_updated`, `task_deleted`)
//! and the same for users and groups; `data` is the row exactly as the
//! REST answers show it, or its bare id for a delete; `reset` (a restore
//! replaced the data) has `data` null.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;
use taskmaster_shared::domain::Role;
use taskmaster_shared::model::{Fields, Group, User};

use taskmaster_shared::position::Position;

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Task,
    User,
    Group,
    /// A personal API token made or revoked: internal.
    Token,
    /// Login sessions ended: internal.
    Session,
    /// A webhook made, changed or deleted: internal (it names where
    /// deliveries go; the audit log records it).
    Webhook,
    /// A restore replaced the data.
    Reset,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "task" => Kind::Task,
            "user" => Kind::User,
            "group" => Kind::Group,
            "token" => Kind::Token,
            "session" => Kind::Session,
            "webhook" => Kind::Webhook,
            "reset" => Kind::Reset,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Token => "token",
            Kind::Session => "session",
            Kind::Webhook => "webhook",
            Kind::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Created,
    Updated,
    Deleted,
    Restored,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "created" => Op::Created,
            "updated" => Op::Updated,
            "deleted" => Op::Deleted,
            "restored" => Op::Restored,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
            Op::Restored => "restored",
        }
    }
}

/// What a user entry says about the user's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub role: Role,
    /// Its groups after the write, sorted.
    pub groups: Vec<u64>,
    pub active: bool,
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub position: Position,
    pub kind: Kind,
    pub op: Op,
    /// The row's id (a token's is not a number: 0).
    pub id: u64,
    /// A task's user; whose credential a token or session entry changed.
    pub user: Option<u64>,
    /// A task's group (after the write).
    pub group: Option<u64>,
    /// The group a task left in this write.
    pub old_group: Option<u64>,
    /// A user's groups, and those it left in this write, sorted.
    pub groups: Vec<u64>,
    /// A user row's rights.
    pub profile: Option<Profile>,
    /// A group row's admin.
    pub admin: Option<u64>,
    /// What clients receive; `None` for internal entries.
    pub message: Option<Box<RawValue>>,
}

/// Why an entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed change log entry {position}: {why}")]
pub struct Malformed {
    pub position: Position,
    pub why: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: &'a RawValue,
    actor: &'a str,
    at: &'a str,
}

fn ids(text: &str) -> Vec<u64> {
    let mut out: Vec<u64> = text.split(',').filter_map(|s| s.parse().ok()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Entry {
    /// Reads an entry from its stream fields.
    pub fn parse(position: Position, fields: &[(String, Vec<u8>)]) -> Result<Entry, Malformed> {
        let bad = |why| Malformed { position, why };
        let get = |name: &str| taskmaster_shared::audit::field(fields, name);
        let number = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok());
        let kind = get("type").and_then(Kind::parse).ok_or(bad("type"))?;
        let op = get("op").and_then(Op::parse).ok_or(bad("op"))?;
        let id = match kind {
            Kind::Token | Kind::Reset => number("id").unwrap_or(0),
            _ => number("id").ok_or(bad("id"))?,
        };
        let mut entry = Entry {
            position,
            kind,
            op,
            id,
            user: number("user"),
            group: number("group"),
            old_group: number("old_group"),
            groups: get("groups").map(ids).unwrap_or_default(),
            profile: None,
            admin: None,
            message: None,
        };
        let row = get("row");
        let data: Box<RawValue> = match (kind, op, row) {
            (Kind::Token | Kind::Session | Kind::Webhook, _, _) => return Ok(entry),
            (Kind::Reset, _, _) => {
                RawValue::from_string("null".to_owned()).map_err(|_| bad("reset"))?
            }
            (_, Op::Deleted, _) => RawValue::from_string(id.to_string()).map_err(|_| bad("id"))?,
            (Kind::Task, _, Some(row)) => {
                if entry.user.is_none() || entry.group.is_none() {
                    return Err(bad("task route"));
                }
                RawValue::from_string(row.to_owned()).map_err(|_| bad("task row"))?
            }
            (Kind::User, _, Some(row)) => {
                let fields: Fields = serde_json::from_str(row).map_err(|_| bad("user row"))?;
                let groups = fields.get("groups").map(|g| ids(g)).unwrap_or_default();
                let user = User::from_fields(&fields, groups.clone()).ok_or(bad("user row"))?;
                entry.profile = Some(Profile {
                    role: user.role,
                    groups,
                    active: user.active,
                });
                to_raw(&user).ok_or(bad("user row"))?
            }
            (Kind::Group, _, Some(row)) => {
                let fields: HashMap<String, String> =
                    serde_json::from_str(row).map_err(|_| bad("group row"))?;
                let group = Group::from_fields(&fields).ok_or(bad("group row"))?;
                entry.admin = Some(group.admin_id);
                to_raw(&group).ok_or(bad("group row"))?
            }
            _ => return Err(bad("row")),
        };
        let kind_name = match kind {
            Kind::Reset => "reset".to_owned(),
            _ => format!("{}_{}", kind.name(), op.name()),
        };
        let message = Message {
            id: position.to_string(),
            kind: kind_name,
            data: &data,
            actor: get("actor").unwrap_or(""),
            at: get("at").unwrap_or(""),
        };
        entry.message = to_raw(&message);
        Ok(entry)
    }
}

fn to_raw<T: Serialize>(value: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fields(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(f, v)| ((*f).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    fn at(seq: u64) -> Position {
        Position { ms: 1, seq }
    }

    #[test]
    fn a_task_entry_carries_its_row_as_the_message_data() {
        let row = r#"{"id":5,"title":"x","user_id":3,"group_id":2}"#;
        let e = Entry::parse(
            at(0),
            &fields(&[
                ("type", "task"),
                ("op", "updated"),
                ("id", "5"),
                ("actor", "3"),
                ("at", "2026-12-05T09:00:00Z"),
                ("user", "3"),
                ("group", "2"),
                ("old_group", "1"),
                ("row", row),
            ]),
        )
        .expect("valid");
        assert_eq!((e.user, e.group, e.old_group), (Some(3), Some(2), Some(1)));
        let m: serde_json::Value =
            serde_json::from_str(e.message.as_deref().expect("a message").get()).expect("JSON");
        assert_eq!(m["type"], "task_updated");
        assert_eq!(m["id"], "1-0");
        assert_eq!(m["data"]["title"], "x");
        assert_eq!(m["actor"], "3");
    }

    #[test]
    fn a_delete_carries_the_bare_id_as_seed_003_does() {
        let e = Entry::parse(
            at(1),
            &fields(&[
                ("type", "task"),
                ("op", "deleted"),
                ("id", "9"),
                ("user", "3"),
                ("group", "2"),
            ]),
        )
        .expect("valid");
        let m: serde_json::Value =
            serde_json::from_str(e.message.as_deref().expect("a message").get()).expect("JSON");
        assert_eq!(m["type"], "task_deleted");
        assert_eq!(m["data"], 9);
    }

    #[test]
    fn a_user_row_is_answered_without_its_secrets() {
        let row = r#"{"id":"4","full_name":"Ann","email":"a@x.io","role":"group_admin","number":"","work_times":"{}","active":"1","created_at":"t","updated_at":"t","groups":"2,1"}"#;
        let e = Entry::parse(
            at(2),
            &fields(&[
                ("type", "user"),
                ("op", "updated"),
                ("id", "4"),
                ("groups", "1,2,7"),
                ("row", row),
            ]),
        )
        .expect("valid");
        let p = e.profile.as_ref().expect("a profile");
        assert_eq!(
            (p.role, p.groups.clone(), p.active),
            (Role::GroupAdmin, vec![1, 2], true)
        );
        assert_eq!(e.groups, vec![1, 2, 7]);
        let m: serde_json::Value =
            serde_json::from_str(e.message.as_deref().expect("a message").get()).expect("JSON");
        assert_eq!(m["data"]["group_ids"], serde_json::json!([1, 2]));
        assert!(m["data"].get("pw").is_none() && m["data"].get("password_hash").is_none());
    }

    #[test]
    fn internal_entries_have_no_message_and_bad_ones_are_refused() {
        let e = Entry::parse(
            at(3),
            &fields(&[
                ("type", "session"),
                ("op", "deleted"),
                ("id", "4"),
                ("user", "4"),
            ]),
        )
        .expect("valid");
        assert!(e.message.is_none());
        assert_eq!(e.user, Some(4));
        for bad in [
            fields(&[("type", "nope"), ("op", "created"), ("id", "1")]),
            fields(&[
                ("type", "task"),
                ("op", "created"),
                ("id", "1"),
                ("row", "{}"),
            ]),
            fields(&[
                ("type", "task"),
                ("op", "created"),
                ("id", "1"),
                ("user", "1"),
                ("group", "1"),
                ("row", "{not json"),
            ]),
            fields(&[
                ("type", "user"),
                ("op", "updated"),
                ("id", "1"),
                ("row", "[]"),
            ]),
        ] {
            assert!(Entry::parse(at(4), &bad).is_err(), "{bad:?}");
        }
    }
}
