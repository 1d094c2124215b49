//! What each client expects the final state to hold, row by row, from the
//! answers it was given: the acknowledged state, not a re-implementation of
//! the api's rules. A row's expectation is the row of the last
//! acknowledged write (or read-back after a cascade), or its absence after
//! an acknowledged delete.
//!
//! A write that got no answer (`info`) may still happen, even after the
//! client's later writes (a request parked in a paused api runs when it
//! resumes). So an `info` write makes its row loose for [`LOOSE_MS`]: any
//! state the row had since, or the write's own, is accepted, and the next
//! acknowledged write sent after that window makes the row strict again.
//!
//! Rows are compared in one canonical shape ([`project`]), the same for an
//! api answer, a Redis row and a PostgreSQL row, times as microseconds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// How long a write without an answer may still take effect: the client's
/// timeout, plus the longest pause of the api or Redis, with a margin.
pub const LOOSE_MS: u64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    User,
    Group,
    Task,
    Token,
    Webhook,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::User,
        Kind::Group,
        Kind::Task,
        Kind::Token,
        Kind::Webhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Group => "groups",
            Kind::Task => "tasks",
            Kind::Token => "tokens",
            Kind::Webhook => "webhooks",
        }
    }
}

/// A row's key: its kind and id (tokens' ids are text).
pub type RowKey = (Kind, String);

/// What one row should be at the end.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The canonical row, or `None`: it must not exist.
    pub row: Option<Value>,
    /// The operation that made this expectation, and when it was answered
    /// (ms since the run started).
    pub op: u64,
    pub at_ms: u64,
    pub loose: Option<Loose>,
    /// For each field of the row, the write that last changed it and when
    /// it was answered: a row found with one field lost names the write
    /// that set that field, not a later write of another field.
    pub changed: BTreeMap<String, (u64, u64)>,
}

/// The other states a loose row may be in.
#[derive(Debug, Clone, Default)]
pub struct Loose {
    /// Writes sent before this (ms since start) do not make it strict.
    pub until_ms: u64,
    pub alternatives: Vec<Option<Value>>,
    /// An update without an answer: any content is possible.
    pub any_content: bool,
}

/// What a write without an answer may have done to its row.
#[derive(Debug, Clone)]
pub enum Maybe {
    Deleted,
    Row(Value),
    /// Changed it in a way the client cannot tell (an update).
    Changed,
}

/// One client's expectations.
#[derive(Debug, Default)]
pub struct Model {
    pub rows: BTreeMap<RowKey, Expect>,
}

impl Model {
    /// An acknowledged write (or a read-back) sent at `sent_ms` set the
    /// row to `row` (`None`: deleted).
    pub fn set(&mut self, key: RowKey, row: Option<Value>, op: u64, sent_ms: u64, at_ms: u64) {
        let loose = match self
            .rows
            .get(&key)
            .and_then(|e| e.loose.clone().map(|l| (e, l)))
        {
            Some((old, mut loose)) if sent_ms < loose.until_ms => {
                loose.alternatives.push(old.row.clone());
                Some(loose)
            }
            _ => None,
        };
        let mut changed = BTreeMap::new();
        if let Some(Value::Object(fields)) = &row {
            let before = self.rows.get(&key);
            for (name, value) in fields {
                let kept = before.and_then(|b| {
                    let same = b.row.as_ref().and_then(|r| r.get(name)) == Some(value);
                    same.then(|| b.changed.get(name).copied()).flatten()
                });
                changed.insert(name.clone(), kept.unwrap_or((op, at_ms)));
            }
        }
        self.rows.insert(
            key,
            Expect {
                row,
                op,
                at_ms,
                loose,
                changed,
            },
        );
    }

    /// The write a row found as `found` lost, and when it was answered:
    /// of the fields that differ, the one changed last; the row's last
    /// write when the row itself is missing or should not be there.
    pub fn blame(expect: &Expect, found: Option<&Value>) -> (u64, u64) {
        let last = (expect.op, expect.at_ms);
        let (Some(Value::Object(want)), Some(Value::Object(have))) = (&expect.row, found) else {
            return last;
        };
        want.iter()
            .filter(|(name, value)| have.get(*name) != Some(*value))
            .map(|(name, _)| expect.changed.get(name).copied().unwrap_or(last))
            .max_by_key(|(_, at)| *at)
            .unwrap_or(last)
    }

    /// A write without an answer, given up on at `at_ms`: the row may now
    /// be in the state `maybe` says.
    pub fn unsure(&mut self, key: RowKey, maybe: Maybe, at_ms: u64) {
        let entry = self.rows.entry(key).or_insert(Expect {
            row: None,
            op: 0,
            at_ms,
            loose: None,
            changed: BTreeMap::new(),
        });
        let loose = entry.loose.get_or_insert_with(Loose::default);
        loose.until_ms = loose.until_ms.max(at_ms + LOOSE_MS);
        match maybe {
            Maybe::Deleted => loose.alternatives.push(None),
            Maybe::Row(row) => loose.alternatives.push(Some(row)),
            Maybe::Changed => loose.any_content = true,
        }
    }

    /// Whether `found` (the final row, `None`: absent) is one this row may
    /// end as.
    pub fn accepts(expect: &Expect, found: Option<&Value>) -> bool {
        if expect.row.as_ref() == found {
            return true;
        }
        let Some(loose) = &expect.loose else {
            return false;
        };
        loose.alternatives.iter().any(|a| a.as_ref() == found)
            || (loose.any_content
                && found.is_some()
                && (expect.row.is_some() || loose.alternatives.iter().any(Option::is_some)))
    }
}

/// Microseconds since the epoch of an RFC 3339 time; `None` for null or
/// an empty string.
pub fn micros(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if !s.is_empty() => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| json!(t.timestamp_micros()))
            .unwrap_or_else(|_| json!(s)),
        _ => Value::Null,
    }
}

/// The canonical shape of a row of `kind` from an api answer (or a Redis
/// task row, which is the answer's JSON).
pub fn project(kind: Kind, v: &Value) -> Value {
    match kind {
        Kind::Task => json!({
            "id": v["id"], "title": v["title"], "status": v["status"], "priority": v["priority"],
            "deadline": v["deadline"], "information": v["information"], "user_id": v["user_id"],
            "group_id": v["group_id"], "state": v["state"], "created_by": v["created_by"],
            "labels": v["labels"], "created_at": micros(&v["created_at"]),
            "updated_at": micros(&v["updated_at"]), "completed_at": micros(&v["completed_at"]),
        }),
        Kind::User => {
            let mut groups: Vec<u64> = v["group_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            groups.sort_unstable();
            groups.dedup();
            json!({
                "id": v["id"], "full_name": v["full_name"], "email": v["email"], "role": v["role"],
                "number": v["number"], "work_times": v["work_times"],
                "active": v["active"].as_bool().unwrap_or(true), "group_ids": groups,
            })
        }
        Kind::Group => json!({"id": v["id"], "name": v["name"], "admin_id": v["admin_id"]}),
        Kind::Token => json!({
            "id": v["id"], "user_id": v["user_id"], "name": v["name"], "read_only": v["read_only"],
        }),
        Kind::Webhook => {
            let mut events: Vec<String> = v["events"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            events.sort();
            json!({
                "id": v["id"], "group_id": v["group_id"], "url": v["url"], "events": events,
                "active": v["active"],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RowKey {
        (Kind::Task, "1".into())
    }

    #[test]
    fn an_acknowledged_row_is_strict() {
        let mut m = Model::default();
        m.set(key(), Some(json!(1)), 1, 0, 10);
        let e = &m.rows[&key()];
        assert!(Model::accepts(e, Some(&json!(1))));
        assert!(!Model::accepts(e, Some(&json!(2))));
        assert!(!Model::accepts(e, None));
    }

    #[test]
    fn a_delete_without_an_answer_allows_both_until_a_later_acknowledged_write() {
        let mut m = Model::default();
        m.set(key(), Some(json!(1)), 1, 0, 10);
        m.unsure(key(), Maybe::Deleted, 20);
        assert!(Model::accepts(&m.rows[&key()], None));
        assert!(Model::accepts(&m.rows[&key()], Some(&json!(1))));
        // Sent inside the window: the lost request may still land after it.
        m.set(key(), Some(json!(2)), 3, 100, 110);
        assert!(Model::accepts(&m.rows[&key()], Some(&json!(1))));
        assert!(Model::accepts(&m.rows[&key()], Some(&json!(2))));
        // Sent after the window: strict again.
        m.set(
            key(),
            Some(json!(3)),
            4,
            20 + LOOSE_MS + 1,
            20 + LOOSE_MS + 5,
        );
        assert!(!Model::accepts(&m.rows[&key()], Some(&json!(2))));
        assert!(Model::accepts(&m.rows[&key()], Some(&json!(3))));
    }

    #[test]
    fn an_update_without_an_answer_allows_any_content_but_not_absence() {
        let mut m = Model::default();
        m.set(key(), Some(json!(1)), 1, 0, 10);
        m.unsure(key(), Maybe::Changed, 20);
        let e = &m.rows[&key()];
        assert!(Model::accepts(e, Some(&json!(7))));
        assert!(!Model::accepts(e, None));
    }

    #[test]
    fn a_row_missing_one_field_blames_the_write_that_set_that_field() {
        let mut m = Model::default();
        m.set(key(), Some(json!({"name": "a", "hours": 1})), 1, 0, 10);
        m.set(key(), Some(json!({"name": "b", "hours": 1})), 2, 20, 30);
        m.set(key(), Some(json!({"name": "b", "hours": 2})), 3, 40, 50);
        let e = &m.rows[&key()];
        // The later write of `hours` took effect; the rename was lost.
        let found = json!({"name": "a", "hours": 2});
        assert_eq!(Model::blame(e, Some(&found)), (2, 30));
        let found = json!({"name": "a", "hours": 1});
        assert_eq!(Model::blame(e, Some(&found)), (3, 50));
        assert_eq!(Model::blame(e, None), (3, 50));
    }

    #[test]
    fn times_compare_as_microseconds() {
        let a = micros(&json!("2026-12-06T05:00:00.000001Z")).as_i64();
        let b = micros(&json!("2026-12-06T06:00:00+01:00")).as_i64();
        assert_eq!(a.zip(b).map(|(a, b)| a - b), Some(1));
        assert_eq!(micros(&json!(null)), Value::Null);
    }
}
