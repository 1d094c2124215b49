//! The orders a task list can be read in, and the indexes that keep them.
//!
//! Every user and every group has a sorted set of its tasks by id,
//! `P user:{id}:order` and `P group:{id}:order` (see [`crate::keys`]), and
//! may have one for each other order, `…:order:p`, `…:order:d` and
//! `…:order:u`. Their members, all of score 0 so that Redis orders them by
//! their bytes:
//!
//! | member | order | index |
//! |---|---|---|
//! | `i{id}` | by id | `…:order` |
//! | `p{priority}{id}` | by priority, then id | `…:order:p` |
//! | `d{deadline}{id}` | by deadline (`YYYY-MM-DD`; `~` for none, after every date), then id | `…:order:d` |
//! | `u{updated_at}{id}` | by update time (`YYYY-MM-DDTHH:MM:SS` and six fraction digits), then id | `…:order:u` |
//!
//! with `{id}` written in 16 digits. A page of any of these orders is then
//! one `ZRANGE … BYLEX` from the last member a client saw: O(log n + page),
//! and exact however rows come and go around it, because a member names a
//! position in the order whether or not its row still exists.
//!
//! Every task write keeps the id indexes. The other three cost a write
//! about as much as the rest of it each (a sorted-set insert into a large
//! set), so a user or a group keeps one only from the first time its list
//! is read in that order: that read builds it in steps (`sort_build.lua`),
//! and writes keep it from the build's first step on (the orders kept are
//! the `…:sorts` hash). A write pays for the orders somebody reads, and
//! for no other.
//!
//! `P tasks:order` holds every task's `i` member: the owner's views page
//! through every task by id (another order over every task is sorted in
//! the api, up to `MAX_UNPAGED` tasks).
//!
//! The write scripts keep the sets in the step that writes the row
//! (`api/src/store/lua/common.lua`, `order_members`), and a restore builds
//! the id indexes from the same function here ([`member`]). A unit test
//! below and `tests/it/restore_keyspace.rs` hold the two to the same bytes.

use crate::model::Task;

/// A key a task list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Id,
    Priority,
    Deadline,
    UpdatedAt,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [
        SortKey::Id,
        SortKey::Priority,
        SortKey::Deadline,
        SortKey::UpdatedAt,
    ];

    /// Its name in `sort=`.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Priority => "priority",
            SortKey::Deadline => "deadline",
            SortKey::UpdatedAt => "updated_at",
        }
    }

    pub fn parse(s: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The first byte of its members in the order index.
    pub fn tag(self) -> u8 {
        match self {
            SortKey::Id => b'i',
            SortKey::Priority => b'p',
            SortKey::Deadline => b'd',
            SortKey::UpdatedAt => b'u',
        }
    }

    /// The task's value for this key, written so that byte order is the
    /// key's order (the id's is [`id_text`]).
    pub fn component(self, t: &Task) -> String {
        match self {
            SortKey::Id => id_text(t.id),
            SortKey::Priority => t.priority.to_string(),
            SortKey::Deadline => deadline_text(&t.deadline),
            SortKey::UpdatedAt => time_text(&t.updated_at),
        }
    }
}

/// The value of `P meta:order` once the id indexes hold every task and
/// nothing else (`1` was a layout that kept every order of every list in
/// them; the api's first start takes such data to this one).
pub const LAYOUT: &str = "2";

/// Digits of an id in the index (ids stay below 10^16).
pub const ID_DIGITS: usize = 16;

/// An id as the index writes it: 16 digits, zero-padded.
pub fn id_text(id: u64) -> String {
    format!("{id:016}")
}

/// A deadline as the index writes it: the date, or `~` for none (after
/// every date: a list by deadline ends with the tasks that have none).
pub fn deadline_text(deadline: &str) -> String {
    if deadline.is_empty() {
        "~".to_owned()
    } else {
        deadline.to_owned()
    }
}

/// A stored time (`2026-12-05T14:29:14.12Z`: RFC 3339 with its fraction
/// trimmed) as the index writes it, `20261205T142914120000`-like but
/// keeping the separators: the date and time, then exactly six fraction
/// digits, so that byte order is time order. A text of another shape is
/// kept as it is.
pub fn time_text(t: &str) -> String {
    let Some(body) = t.strip_suffix('Z') else {
        return t.to_owned();
    };
    let (base, frac) = body.split_once('.').unwrap_or((body, ""));
    if base.len() != 19 || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return t.to_owned();
    }
    format!("{base}{frac:0<6}")
}

/// Task `t`'s member for `key`.
pub fn member(key: SortKey, t: &Task) -> String {
    let mut m = String::with_capacity(40);
    m.push(char::from(key.tag()));
    if key != SortKey::Id {
        m.push_str(&key.component(t));
    }
    m.push_str(&id_text(t.id));
    m
}

/// Task `t`'s four members, in [`SortKey::ALL`]'s order.
pub fn members(t: &Task) -> [String; 4] {
    SortKey::ALL.map(|k| member(k, t))
}

/// The task id a member ends with.
pub fn member_id(m: &[u8]) -> Option<u64> {
    let tail = m.get(m.len().checked_sub(ID_DIGITS)?..)?;
    std::str::from_utf8(tail).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64, priority: u8, deadline: &str, updated_at: &str) -> Task {
        let raw = format!(
            r#"{{"id":{id},"title":"t","status":false,"priority":{priority},"deadline":"{deadline}","information":"","user_id":1,"group_id":1,"created_at":"","updated_at":"{updated_at}","state":"todo","created_by":null,"labels":[],"completed_at":null}}"#
        );
        Task::from_json(raw.as_bytes()).expect("a task")
    }

    #[test]
    fn members_are_written_as_the_write_scripts_write_them() {
        let t = task(42, 3, "2026-12-31", "2026-12-05T14:29:14.12Z");
        assert_eq!(
            members(&t),
            [
                "i0000000000000042",
                "p30000000000000042",
                "d2026-12-310000000000000042",
                "u2026-12-05T14:29:141200000000000000000042",
            ]
            .map(String::from)
        );
        let none = task(7, 1, "", "2026-12-05T14:29:14Z");
        assert_eq!(member(SortKey::Deadline, &none), "d~0000000000000007");
        assert_eq!(
            member(SortKey::UpdatedAt, &none),
            "u2026-12-05T14:29:140000000000000000000007"
        );
        assert_eq!(member_id(b"d~0000000000000007"), Some(7));
        assert_eq!(member_id(b"short"), None);
    }

    #[test]
    fn byte_order_of_the_members_is_the_order_of_their_values() {
        let times = [
            "2026-12-05T14:29:14Z",
            "2026-12-05T14:29:14.000001Z",
            "2026-12-05T14:29:14.12Z",
            "2026-12-05T14:29:14.123Z",
            "2026-12-05T14:29:15Z",
        ];
        let texts: Vec<String> = times.iter().map(|t| time_text(t)).collect();
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
        let deadlines = ["2025-01-01", "2026-12-31", ""];
        let texts: Vec<String> = deadlines.iter().map(|d| deadline_text(d)).collect();
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
        assert!(id_text(9) < id_text(10));
        assert_eq!(time_text("not a time"), "not a time");
    }
}
