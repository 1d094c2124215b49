//! The hub's live connections and who may receive what, under the hub's
//! lock (see [`super::hub`]).
//!
//! Each entry is handed only to the connections it may concern, found
//! through indexes of the connections' rights (owners, by user, by group
//! administered, by group joined), so the fan-out costs a few map lookups
//! and one check per recipient, not one per connection. A connection whose
//! rights an entry changes is indexed again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use taskmaster_shared::domain::Role;
use taskmaster_shared::position::Position;
use tokio::sync::mpsc;

use super::entry::{Entry, Kind};
use super::filter::Filter;
use super::rights::Rights;

/// Why the hub closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// Its queue was full: resume from the last position received.
    Lagged = 1,
    /// Its credential or its principal is gone.
    Revoked = 2,
    /// A restore replaced the data: read everything again.
    Reset = 3,
    /// The api is shutting down: resume elsewhere or later.
    Shutdown = 4,
    /// The position resumed from is older than the retained log: read
    /// everything again.
    Gone = 5,
}

impl CloseReason {
    /// Its WebSocket close code (4000-4999 are the application's).
    pub fn code(self) -> u16 {
        match self {
            CloseReason::Shutdown => 1001,
            CloseReason::Lagged => 4001,
            CloseReason::Revoked => 4003,
            CloseReason::Reset => 4009,
            CloseReason::Gone => 4010,
        }
    }

    /// Its name in an SSE `close` event and in logs.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Lagged => "lagged",
            CloseReason::Revoked => "revoked",
            CloseReason::Reset => "reset",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Gone => "gone",
        }
    }

    /// What the client should do.
    pub fn advice(self) -> &'static str {
        match self {
            CloseReason::Lagged => "too far behind: reconnect and resume from the last id received",
            CloseReason::Revoked => "the credential is no longer valid: sign in again",
            CloseReason::Reset => "the data was restored: read your lists again, then reconnect",
            CloseReason::Shutdown => {
                "the server is shutting down: reconnect and resume from the last id received"
            }
            CloseReason::Gone => {
                "that position is no longer retained: read your lists again, then reconnect from now"
            }
        }
    }

    pub(super) fn from_u8(v: u8) -> CloseReason {
        match v {
            2 => CloseReason::Revoked,
            3 => CloseReason::Reset,
            4 => CloseReason::Shutdown,
            5 => CloseReason::Gone,
            _ => CloseReason::Lagged,
        }
    }
}

/// What a connection's queue carries.
#[derive(Debug, Clone)]
pub enum Item {
    Entry(Arc<Entry>),
    /// Its credential may have changed: check it before what follows.
    Recheck,
}

/// A live connection, as the hub keeps it.
pub(super) struct Conn {
    pub(super) rights: Rights,
    pub(super) filter: Filter,
    pub(super) tx: mpsc::Sender<Item>,
    pub(super) closed: Arc<AtomicU8>,
}

/// The live connections.
#[derive(Default)]
pub(super) struct Registry {
    /// The last position dispatched; `None` until the reader has found
    /// where the log ends.
    pub(super) last: Option<Position>,
    conns: HashMap<u64, Conn>,
    next_id: u64,
    /// Connections per principal (`None`: the owner header), joined or not.
    pub(super) per_principal: HashMap<Option<u64>, usize>,
    pub(super) total: usize,
    /// Connections whose principal is an owner.
    owners: HashSet<u64>,
    /// The feed's metrics: `total` and the slow consumers dropped.
    pub(super) meters: crate::metrics::FeedMeters,
    /// By the principal's user id.
    by_user: HashMap<u64, HashSet<u64>>,
    /// By a group the principal administers.
    by_admin_of: HashMap<u64, HashSet<u64>>,
    /// By a group the principal is a member of.
    by_member_of: HashMap<u64, HashSet<u64>>,
}

fn index_in(map: &mut HashMap<u64, HashSet<u64>>, key: u64, id: u64, add: bool) {
    if add {
        map.entry(key).or_default().insert(id);
    } else if let Some(set) = map.get_mut(&key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(&key);
        }
    }
}

impl Registry {
    /// An empty registry that reports to `meters`.
    pub(super) fn metered(meters: crate::metrics::FeedMeters) -> Self {
        Registry {
            meters,
            ..Registry::default()
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Adds a connection; its id.
    pub(super) fn insert(&mut self, conn: Conn) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.index(id, &conn.rights, true);
        self.conns.insert(id, conn);
        id
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        self.index(id, &conn.rights, false);
        Some(conn)
    }

    pub(super) fn set_filter(&mut self, id: u64, filter: Filter) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.filter = filter;
        }
    }

    /// Closes every connection, for `reason`.
    pub(super) fn close_all(&mut self, reason: CloseReason) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id, reason);
        }
    }

    fn close(&mut self, id: u64, reason: CloseReason) {
        if let Some(conn) = self.remove(id) {
            if reason == CloseReason::Lagged {
                self.meters.dropped.increment(1);
            }
            conn.closed.store(reason as u8, Ordering::Release);
        }
    }

    fn index(&mut self, id: u64, rights: &Rights, add: bool) {
        if rights.role == Role::Owner {
            if add {
                self.owners.insert(id);
            } else {
                self.owners.remove(&id);
            }
        }
        if let Some(user) = rights.id {
            index_in(&mut self.by_user, user, id, add);
        }
        for g in &rights.admin_of {
            index_in(&mut self.by_admin_of, *g, id, add);
        }
        for g in &rights.groups {
            index_in(&mut self.by_member_of, *g, id, add);
        }
    }

    /// Every connection `e` may concern: it may see it, or it changes its
    /// rights or credentials (a superset; [`Rights::admit`] decides).
    fn candidates(&self, e: &Entry) -> Vec<u64> {
        match e.kind {
            Kind::Reset => return self.conns.keys().copied().collect(),
            // Nobody's rights or credentials, nothing delivered.
            Kind::Webhook => return Vec::new(),
            _ => {}
        }
        let mut out: HashSet<u64> = self.owners.clone();
        let mut add = |set: Option<&HashSet<u64>>| {
            if let Some(set) = set {
                out.extend(set);
            }
        };
        match e.kind {
            Kind::Task => {
                add(e.user.and_then(|u| self.by_user.get(&u)));
                add(e.group.and_then(|g| self.by_admin_of.get(&g)));
                add(e.old_group.and_then(|g| self.by_admin_of.get(&g)));
            }
            Kind::User => {
                add(self.by_user.get(&e.id));
                for g in &e.groups {
                    add(self.by_admin_of.get(g));
                }
            }
            Kind::Group => {
                add(self.by_admin_of.get(&e.id));
                add(self.by_member_of.get(&e.id));
                add(e.admin.and_then(|a| self.by_user.get(&a)));
            }
            Kind::Token | Kind::Session => add(e.user.and_then(|u| self.by_user.get(&u))),
            Kind::Reset | Kind::Webhook => {}
        }
        let mut ids: Vec<u64> = out.into_iter().collect();
        // Connection order, so that delivery order does not depend on hashing.
        ids.sort_unstable();
        ids
    }

    /// Hands `entry` to every connection that may see it; follows the
    /// rights it changes; drops the connections it ends or that are full.
    pub(super) fn deliver(&mut self, entry: &Arc<Entry>) {
        let mut dropped: Vec<(u64, CloseReason)> = Vec::new();
        let mut reindex: Vec<(u64, Rights)> = Vec::new();
        for id in self.candidates(entry) {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            let before = conn.rights.touched_by(entry).then(|| conn.rights.clone());
            let verdict = conn.rights.admit(entry);
            if let Some(before) = before
                && before != conn.rights
            {
                reindex.push((id, before));
            }
            if verdict.recheck && conn.tx.try_send(Item::Recheck).is_err() {
                dropped.push((id, CloseReason::Lagged));
                continue;
            }
            if verdict.sees
                && conn.filter.passes(entry)
                && conn.tx.try_send(Item::Entry(entry.clone())).is_err()
            {
                dropped.push((id, CloseReason::Lagged));
                continue;
            }
            if verdict.gone {
                dropped.push((id, CloseReason::Revoked));
            } else if entry.kind == Kind::Reset {
                // Everyone's rights may have changed: they connect again.
                dropped.push((id, CloseReason::Reset));
            }
        }
        for (id, before) in reindex {
            self.index(id, &before, false);
            if let Some(rights) = self.conns.get(&id).map(|c| c.rights.clone()) {
                self.index(id, &rights, true);
            }
        }
        for (id, reason) in dropped {
            self.close(id, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::entry::tests::fields;
    use crate::feed::rights::tests::{rights, task_at};

    fn conn(rights: Rights) -> (Conn, mpsc::Receiver<Item>) {
        let (tx, rx) = mpsc::channel(16);
        let conn = Conn {
            rights,
            filter: Filter::default(),
            tx,
            closed: Arc::default(),
        };
        (conn, rx)
    }

    fn entry(seq: u64, pairs: &[(&str, &str)]) -> Arc<Entry> {
        Arc::new(Entry::parse(Position { ms: 1, seq }, &fields(pairs)).expect("valid"))
    }

    fn received(rx: &mut mpsc::Receiver<Item>) -> usize {
        let mut n = 0;
        while let Ok(item) = rx.try_recv() {
            if matches!(item, Item::Entry(_)) {
                n += 1;
            }
        }
        n
    }

    /// The index finds the same recipients as judging every connection.
    #[test]
    fn the_indexes_reach_exactly_whom_the_rights_admit() {
        let mut r = Registry::default();
        let people = [
            Rights::owner_header(),
            rights(1, Role::Owner, &[], &[]),
            rights(2, Role::GroupAdmin, &[1], &[1]),
            rights(3, Role::User, &[1], &[]),
            rights(4, Role::User, &[1, 2], &[]),
            rights(5, Role::GroupAdmin, &[2], &[2]),
        ];
        let mut rxs = Vec::new();
        for p in &people {
            let (c, rx) = conn(p.clone());
            r.insert(c);
            rxs.push(rx);
        }
        let group = r#"{"id":"2","name":"g","admin_id":"2","created_at":"","updated_at":""}"#;
        let user = r#"{"id":"4","full_name":"","email":"","role":"user","number":"","work_times":"{}","active":"1","created_at":"","updated_at":"","groups":"2"}"#;
        let entries = [
            Arc::new(task_at(1, "3", "1", None)),
            Arc::new(task_at(2, "4", "2", Some("1"))),
            entry(
                3,
                &[
                    ("type", "user"),
                    ("op", "updated"),
                    ("id", "4"),
                    ("groups", "1,2"),
                    ("row", user),
                ],
            ),
            // Group 2 goes to admin 2: it then sees group 2's tasks.
            entry(
                4,
                &[
                    ("type", "group"),
                    ("op", "updated"),
                    ("id", "2"),
                    ("row", group),
                ],
            ),
            Arc::new(task_at(5, "4", "2", None)),
            entry(6, &[("type", "group"), ("op", "deleted"), ("id", "1")]),
            Arc::new(task_at(7, "3", "1", None)),
        ];
        let mut brute: Vec<Rights> = people.to_vec();
        let mut want = vec![0usize; people.len()];
        for e in &entries {
            for (i, p) in brute.iter_mut().enumerate() {
                if p.admit(e).sees {
                    want[i] += 1;
                }
            }
            r.deliver(e);
        }
        let got: Vec<usize> = rxs.iter_mut().map(received).collect();
        assert_eq!(got, want);
        assert_eq!(
            got,
            vec![7, 7, 6, 3, 4, 3],
            "owner header, owner, admin 2, user 3, user 4, admin 5"
        );
    }

    #[test]
    fn a_full_queue_or_a_gone_principal_leaves_the_registry_and_its_indexes() {
        let mut r = Registry::default();
        let (tx, _rx) = mpsc::channel(1);
        let full = r.insert(Conn {
            rights: Rights::owner_header(),
            filter: Filter::default(),
            tx,
            closed: Arc::default(),
        });
        let (c, _rx2) = conn(rights(3, Role::User, &[1], &[]));
        let closed = c.closed.clone();
        let gone = r.insert(c);
        let task = |seq| Arc::new(task_at(seq, "3", "1", None));
        r.deliver(&task(1));
        r.deliver(&task(2));
        assert!(!r.conns.contains_key(&full), "the full one was dropped");
        assert!(r.owners.is_empty());
        r.deliver(&entry(
            3,
            &[
                ("type", "user"),
                ("op", "deleted"),
                ("id", "3"),
                ("groups", "1"),
            ],
        ));
        assert!(!r.conns.contains_key(&gone));
        assert_eq!(
            CloseReason::from_u8(closed.load(Ordering::Acquire)),
            CloseReason::Revoked
        );
        assert!(r.by_user.is_empty() && r.by_member_of.is_empty() && r.is_empty());
    }
}
