//! What one feed connection's principal may read, kept current by the log
//! itself.
//!
//! The rules are the REST answers' ([`crate::authz`]): the owner sees
//! everything; a user sees its own tasks, its profile and its groups; a
//! group admin also sees the tasks of the groups it administers and the
//! users in them. Entries that change a principal's rights (its own user
//! row: role, groups, deactivation, deletion; a group's row: who
//! administers it; a group's deletion) are applied as the log passes them,
//! so a connection follows its rights in log order, without a lookup.
//!
//! An entry that changes the rights is judged by them before and after
//! (the later of two is what a REST read would answer): a user moved out
//! of a group sees its own leaving, a group admin sees the group it was
//! just given.

use taskmaster_shared::domain::Role;

use super::entry::{Entry, Kind, Op};
use crate::auth::Caller;

/// A principal's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    /// `None`: the owner header.
    pub id: Option<u64>,
    pub role: Role,
    /// Groups it is a member of, sorted.
    pub groups: Vec<u64>,
    /// Groups it administers, sorted.
    pub admin_of: Vec<u64>,
}

/// What an entry means to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// It may receive the entry.
    pub sees: bool,
    /// Its principal is gone (deleted or deactivated): close.
    pub gone: bool,
    /// Its credential may have changed: check it before anything later.
    pub recheck: bool,
}

fn insert(set: &mut Vec<u64>, v: u64) {
    if let Err(at) = set.binary_search(&v) {
        set.insert(at, v);
    }
}

fn remove(set: &mut Vec<u64>, v: u64) {
    if let Ok(at) = set.binary_search(&v) {
        set.remove(at);
    }
}

fn has(set: &[u64], v: u64) -> bool {
    set.binary_search(&v).is_ok()
}

impl Rights {
    /// The rights of a resolved caller (with its relations).
    pub fn of(caller: &Caller) -> Rights {
        let mut groups = caller.groups.clone();
        groups.sort_unstable();
        let mut admin_of = caller.admin_of.clone();
        admin_of.sort_unstable();
        Rights {
            id: caller.id,
            role: caller.role,
            groups,
            admin_of,
        }
    }

    pub fn owner_header() -> Rights {
        Rights {
            id: None,
            role: Role::Owner,
            groups: Vec::new(),
            admin_of: Vec::new(),
        }
    }

    fn is(&self, user: u64) -> bool {
        self.id == Some(user)
    }

    /// Whether these rights may read `e` (the REST rules).
    pub fn sees(&self, e: &Entry) -> bool {
        if e.message.is_none() {
            return false;
        }
        if self.role == Role::Owner || e.kind == Kind::Reset {
            return true;
        }
        match e.kind {
            Kind::Task => {
                e.user.is_some_and(|u| self.is(u))
                    || e.group.is_some_and(|g| has(&self.admin_of, g))
                    || e.old_group.is_some_and(|g| has(&self.admin_of, g))
            }
            Kind::User => {
                self.is(e.id)
                    || (self.role == Role::GroupAdmin
                        && e.groups.iter().any(|g| has(&self.admin_of, *g)))
            }
            Kind::Group => has(&self.groups, e.id) || has(&self.admin_of, e.id),
            _ => false,
        }
    }

    /// Whether `e` changes these rights.
    pub fn touched_by(&self, e: &Entry) -> bool {
        match e.kind {
            Kind::User => self.is(e.id),
            Kind::Group => {
                has(&self.admin_of, e.id)
                    || has(&self.groups, e.id)
                    || e.admin.is_some_and(|a| self.is(a))
            }
            _ => false,
        }
    }

    /// Applies `e`'s change of rights; true when the principal is gone.
    fn apply(&mut self, e: &Entry) -> bool {
        match (e.kind, e.op) {
            (Kind::User, Op::Deleted) => return true,
            (Kind::User, _) => {
                if let Some(p) = &e.profile {
                    if !p.active {
                        return true;
                    }
                    self.role = p.role;
                    self.groups = p.groups.clone();
                }
            }
            (Kind::Group, Op::Deleted) => {
                remove(&mut self.groups, e.id);
                remove(&mut self.admin_of, e.id);
            }
            (Kind::Group, _) => {
                if e.admin.is_some_and(|a| self.is(a)) {
                    insert(&mut self.admin_of, e.id);
                } else {
                    remove(&mut self.admin_of, e.id);
                }
            }
            _ => {}
        }
        false
    }

    /// Judges `e` and follows the change of rights it makes.
    pub fn admit(&mut self, e: &Entry) -> Verdict {
        let recheck = match e.kind {
            Kind::User => self.is(e.id),
            Kind::Token | Kind::Session => e.user.is_some_and(|u| self.is(u)),
            _ => false,
        };
        if !self.touched_by(e) {
            return Verdict {
                sees: self.sees(e),
                gone: false,
                recheck,
            };
        }
        let before = self.sees(e);
        let gone = self.apply(e);
        Verdict {
            sees: before || (!gone && self.sees(e)),
            gone,
            recheck,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::feed::entry::tests::fields;
    use taskmaster_shared::position::Position;

    fn entry(pairs: &[(&str, &str)]) -> Entry {
        Entry::parse(Position { ms: 1, seq: 0 }, &fields(pairs)).expect("valid")
    }

    /// A task entry at position `1-{seq}`: created, or updated when it
    /// left `old_group`.
    pub(crate) fn task_at(seq: u64, user: &str, group: &str, old_group: Option<&str>) -> Entry {
        let mut f = vec![
            ("type", "task"),
            (
                "op",
                if old_group.is_some() {
                    "updated"
                } else {
                    "created"
                },
            ),
            ("id", "10"),
            ("user", user),
            ("group", group),
            ("row", "{}"),
        ];
        if let Some(g) = old_group {
            f.push(("old_group", g));
        }
        Entry::parse(Position { ms: 1, seq }, &fields(&f)).expect("valid")
    }

    fn task(user: &str, group: &str, old_group: Option<&str>) -> Entry {
        task_at(0, user, group, old_group)
    }

    fn user_row(id: &str, role: &str, groups: &str, active: &str) -> String {
        format!(
            r#"{{"id":"{id}","full_name":"","email":"","role":"{role}","number":"","work_times":"{{}}","active":"{active}","created_at":"","updated_at":"","groups":"{groups}"}}"#
        )
    }

    pub(crate) fn rights(id: u64, role: Role, groups: &[u64], admin_of: &[u64]) -> Rights {
        Rights {
            id: Some(id),
            role,
            groups: groups.to_vec(),
            admin_of: admin_of.to_vec(),
        }
    }

    #[test]
    fn tasks_are_seen_by_their_user_their_groups_admin_and_the_owner() {
        let cases: &[(Rights, Entry, bool)] = &[
            (rights(3, Role::User, &[1], &[]), task("3", "1", None), true),
            (
                rights(4, Role::User, &[1], &[]),
                task("3", "1", None),
                false,
            ),
            (
                rights(2, Role::GroupAdmin, &[1], &[1]),
                task("3", "1", None),
                true,
            ),
            (
                rights(2, Role::GroupAdmin, &[1, 2], &[2]),
                task("3", "1", None),
                false,
            ),
            (
                rights(2, Role::GroupAdmin, &[2], &[2]),
                task("3", "1", Some("2")),
                true,
            ),
            (Rights::owner_header(), task("3", "1", None), true),
        ];
        for (r, e, want) in cases {
            assert_eq!(r.sees(e), *want, "{r:?}");
        }
    }

    #[test]
    fn a_user_removed_from_a_group_sees_its_leaving_then_nothing_more_of_the_group() {
        let mut r = rights(3, Role::User, &[1, 2], &[]);
        let left = entry(&[
            ("type", "user"),
            ("op", "updated"),
            ("id", "3"),
            ("groups", "1,2"),
            ("row", &user_row("3", "user", "2", "1")),
        ]);
        let v = r.admit(&left);
        assert!(v.sees && v.recheck && !v.gone);
        assert_eq!(r.groups, vec![2]);
        let group_one = entry(&[
            ("type", "group"),
            ("op", "updated"),
            ("id", "1"),
            (
                "row",
                r#"{"id":"1","name":"g","admin_id":"9","created_at":"","updated_at":""}"#,
            ),
        ]);
        assert!(!r.admit(&group_one).sees);
    }

    #[test]
    fn a_group_given_to_an_admin_brings_its_tasks_and_a_deleted_group_takes_them_away() {
        let mut r = rights(2, Role::GroupAdmin, &[], &[]);
        let given = entry(&[
            ("type", "group"),
            ("op", "created"),
            ("id", "7"),
            (
                "row",
                r#"{"id":"7","name":"g","admin_id":"2","created_at":"","updated_at":""}"#,
            ),
        ]);
        assert!(r.admit(&given).sees);
        assert_eq!(r.admin_of, vec![7]);
        assert!(r.admit(&task("5", "7", None)).sees);
        let deleted = entry(&[("type", "group"), ("op", "deleted"), ("id", "7")]);
        assert!(r.admit(&deleted).sees, "it sees the group go");
        assert!(!r.admit(&task("5", "7", None)).sees);
    }

    #[test]
    fn a_demoted_admin_no_longer_sees_the_users_it_managed() {
        let mut r = rights(2, Role::GroupAdmin, &[1], &[1]);
        let member = |id: &str| {
            entry(&[
                ("type", "user"),
                ("op", "updated"),
                ("id", id),
                ("groups", "1"),
                ("row", &user_row(id, "user", "1", "1")),
            ])
        };
        assert!(r.admit(&member("5")).sees);
        let handed = entry(&[
            ("type", "group"),
            ("op", "updated"),
            ("id", "1"),
            (
                "row",
                r#"{"id":"1","name":"g","admin_id":"1","created_at":"","updated_at":""}"#,
            ),
        ]);
        assert!(r.admit(&handed).sees, "still a member of the group");
        let demoted = entry(&[
            ("type", "user"),
            ("op", "updated"),
            ("id", "2"),
            ("groups", "1"),
            ("row", &user_row("2", "user", "1", "1")),
        ]);
        assert!(r.admit(&demoted).sees);
        assert!(!r.admit(&member("5")).sees);
    }

    #[test]
    fn a_deactivated_or_deleted_principal_is_gone_and_credential_changes_ask_for_a_check() {
        let mut r = rights(3, Role::User, &[1], &[]);
        let off = entry(&[
            ("type", "user"),
            ("op", "updated"),
            ("id", "3"),
            ("groups", "1"),
            ("row", &user_row("3", "user", "1", "0")),
        ]);
        assert!(r.admit(&off).gone);
        let mut r = rights(3, Role::User, &[1], &[]);
        assert!(
            r.admit(&entry(&[
                ("type", "user"),
                ("op", "deleted"),
                ("id", "3"),
                ("groups", "1")
            ]))
            .gone
        );
        let mut r = rights(3, Role::User, &[1], &[]);
        let v = r.admit(&entry(&[
            ("type", "session"),
            ("op", "deleted"),
            ("id", "3"),
            ("user", "3"),
        ]));
        assert!(v.recheck && !v.sees);
        let v = r.admit(&entry(&[
            ("type", "token"),
            ("op", "deleted"),
            ("id", "abc"),
            ("user", "4"),
        ]));
        assert!(!v.recheck && !v.sees);
    }
}
