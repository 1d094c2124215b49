//! The write scripts of groups, memberships and tasks, one typed method
//! each (users' are in `user_writes.rs`).
//!
//! Each method lays out its script's arguments (documented at the top of
//! each `lua/*.lua`) from typed values, and answers what the script
//! answered, or the [`Refusal`](super::Refusal) of the rule that refused.

use redis::Value;
use taskmaster_shared::domain::{Deadline, Email, GroupId, Priority, UserId};
use taskmaster_shared::model::{Group, Task};

use super::meter::{Meter, Metered, parse_metered};
use super::refusal::create_entry;
use super::scripts::SCRIPTS;
use super::value::{fields, u64_of};
use super::{Store, StoreError, Written};

/// Who makes a change, as the task scripts judge it: the owner may change
/// any task, a user its own and those of the groups it administers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Owner,
    User(UserId),
}

impl Actor {
    fn arg(self) -> String {
        match self {
            Actor::Owner => "owner".to_owned(),
            Actor::User(id) => id.to_string(),
        }
    }
}

/// What deleting a group did.
pub struct DeletedGroup {
    /// The row as it was.
    pub group: Group,
    pub affected_users: u64,
    pub deleted_tasks: u64,
}

/// What `write_tasks` does to each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    Update,
    MarkDone,
    Delete,
}

impl TaskAction {
    fn arg(self) -> &'static str {
        match self {
            TaskAction::Update => "update",
            TaskAction::MarkDone => "mark_done",
            TaskAction::Delete => "delete",
        }
    }
}

/// Validated changes to tasks; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskChangeSet {
    pub title: Option<String>,
    pub priority: Option<Priority>,
    pub deadline: Option<Deadline>,
    pub information: Option<String>,
    pub status: Option<bool>,
    /// Move the tasks to this group (their users must be members).
    pub group: Option<GroupId>,
}

impl TaskChangeSet {
    /// The script's field/value pairs, in a fixed order.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(t) = &self.title {
            pairs.push(("title", t.clone()));
        }
        if let Some(p) = self.priority {
            pairs.push(("priority", p.get().to_string()));
        }
        if let Some(d) = &self.deadline {
            pairs.push(("deadline", d.as_wire()));
        }
        if let Some(i) = &self.information {
            pairs.push(("information", i.clone()));
        }
        if let Some(s) = self.status {
            pairs.push(("status", if s { "1" } else { "0" }.to_owned()));
        }
        pairs
    }
}

/// A task about to be created, as `create_tasks` stores it.
pub struct NewTaskRow<'a> {
    pub title: &'a str,
    pub priority: u8,
    pub deadline: &'a str,
    pub information: &'a str,
    pub user_id: u64,
    pub group_id: u64,
    /// Both `created_at` and `updated_at`.
    pub now: &'a str,
}

impl NewTaskRow<'_> {
    /// The row's JSON after its id, `,"title":…,"updated_at":"…"}`, in the
    /// field order of [`Task`]; the script prepends `{"id":N`.
    pub fn tail(&self) -> String {
        // Written by hand (the strings go through serde_json for their
        // escaping): this is on every create's path, and a derived
        // serialisation was most of its cost.
        fn text(out: &mut Vec<u8>, name: &str, value: &str) {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        }
        fn number(out: &mut Vec<u8>, name: &str, value: u64) {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        }
        let mut out = Vec::with_capacity(
            192 + self.title.len() + self.information.len() + self.deadline.len(),
        );
        text(&mut out, "title", self.title);
        out.extend_from_slice(b",\"status\":false");
        number(&mut out, "priority", u64::from(self.priority));
        text(&mut out, "deadline", self.deadline);
        text(&mut out, "information", self.information);
        number(&mut out, "user_id", self.user_id);
        number(&mut out, "group_id", self.group_id);
        text(&mut out, "created_at", self.now);
        text(&mut out, "updated_at", self.now);
        out.push(b'}');
        // Only UTF-8 went in.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// One task to create in a `create_tasks` call.
#[derive(Debug, Clone)]
pub struct NewCreate {
    pub user: UserId,
    pub group: GroupId,
    /// A caller who must administer the group.
    pub admin_check: Option<UserId>,
    /// The credential version the user must still have (else
    /// `StaleCredentials`).
    pub guard: Option<u64>,
    /// The row's JSON after its id (see [`NewTaskRow::tail`]).
    pub tail: String,
    /// The rate limit this create counts against, when no earlier step
    /// of its request counted it.
    pub meter: Option<Meter>,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The id a create script answered with.
pub(super) fn new_id(items: &[Value], script: &'static str) -> Result<u64, StoreError> {
    items
        .first()
        .and_then(u64_of)
        .ok_or(StoreError::Malformed(script))
}

impl Store {
    /// Creates a group; its admin becomes a member.
    pub async fn create_group(
        &self,
        name: &str,
        admin: UserId,
        now: &str,
    ) -> Result<Written<GroupId>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.create_group, now);
        inv.arg(Email::key_of(name)).arg(name).arg(admin.get());
        Ok(match self.write(&inv).await? {
            Ok(items) => Ok(GroupId(new_id(&items, "create_group reply")?)),
            Err(refused) => Err(refused),
        })
    }

    pub async fn update_group(
        &self,
        id: GroupId,
        name: Option<&str>,
        admin: Option<UserId>,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.update_group, now);
        inv.arg(id.get())
            .arg(name.unwrap_or(""))
            .arg(name.map(Email::key_of).unwrap_or_default())
            .arg(opt(admin));
        Ok(self.write(&inv).await?.map(|_| ()))
    }

    /// Deletes a group and its tasks, and removes it from its members.
    pub async fn delete_group(
        &self,
        id: GroupId,
        now: &str,
    ) -> Result<Written<DeletedGroup>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.delete_group, now);
        inv.arg(id.get());
        Ok(match self.write(&inv).await? {
            Ok(items) => {
                let mut it = items.into_iter();
                let group = it
                    .next()
                    .and_then(|row| Group::from_fields(&fields(row)))
                    .ok_or(StoreError::Malformed("delete_group reply"))?;
                Ok(DeletedGroup {
                    group,
                    affected_users: it.next().as_ref().and_then(u64_of).unwrap_or(0),
                    deleted_tasks: it.next().as_ref().and_then(u64_of).unwrap_or(0),
                })
            }
            Err(refused) => Err(refused),
        })
    }

    /// Adds `user` to `group`. `by` is a group admin acting (it must
    /// administer the group, and may add only plain users); `None` for the
    /// owner.
    pub async fn add_member(
        &self,
        group: GroupId,
        user: UserId,
        by: Option<UserId>,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.add_member, now);
        inv.arg(group.get())
            .arg(user.get())
            .arg(if by.is_some() { "1" } else { "" })
            .arg(opt(by));
        Ok(self.write(&inv).await?.map(|_| ()))
    }

    /// Removes `user` from `group` (`by` as for [`Store::add_member`]);
    /// answers how many of the user's tasks moved or went.
    pub async fn remove_member(
        &self,
        group: GroupId,
        user: UserId,
        by: Option<UserId>,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.remove_member, now);
        inv.arg(group.get()).arg(user.get()).arg(opt(by));
        Ok(self
            .write(&inv)
            .await?
            .map(|items| items.first().and_then(u64_of).unwrap_or(0)))
    }

    /// Creates tasks in one atomic step; each is checked and answered on
    /// its own (its new id, or why it was refused), in order.
    pub async fn create_tasks(
        &self,
        creates: &[NewCreate],
        now: &str,
    ) -> Result<Vec<Written<u64>>, StoreError> {
        Ok(self
            .create_tasks_counted(creates, now)
            .await?
            .into_iter()
            .map(|(written, _)| written)
            .collect())
    }

    /// [`Store::create_tasks`], with each create's count when it carried a
    /// meter.
    pub async fn create_tasks_counted(
        &self,
        creates: &[NewCreate],
        now: &str,
    ) -> Result<Vec<(Written<u64>, Option<Metered>)>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.create_tasks, now);
        for c in creates {
            inv.arg(c.user.get())
                .arg(c.group.get())
                .arg(opt(c.admin_check))
                .arg(opt(c.guard))
                .arg(&c.tail);
            match &c.meter {
                Some(m) => inv
                    .arg(self.meter_key(m.principal))
                    .arg(m.interval_ms())
                    .arg(m.rate.burst)
                    .arg(m.want),
                None => inv.arg("").arg(0).arg(0).arg(0),
            };
        }
        // MAINTENANCE is an error of its own; nothing else refuses a batch
        // as a whole.
        let items = self
            .write(&inv)
            .await?
            .map_err(|_| StoreError::Malformed("create_tasks refused as a whole"))?;
        if items.len() != creates.len() {
            return Err(StoreError::Malformed("create_tasks answered a wrong count"));
        }
        items
            .into_iter()
            .zip(creates)
            .map(|(item, c)| match (item, &c.meter) {
                (Value::Array(mut parts), Some(m)) if !parts.is_empty() => {
                    let result = create_entry(&parts.remove(0))?;
                    Ok((result, Some(parse_metered(Value::Array(parts), m)?)))
                }
                (item, _) => Ok((create_entry(&item)?, None)),
            })
            .collect()
    }

    /// Updates, marks done or deletes tasks, all or none: every task is
    /// checked before any changes. `path_user`: the tasks must be this
    /// user's (a single task's path). Answers the rows after the change
    /// (before, for a delete).
    pub async fn write_tasks(
        &self,
        action: TaskAction,
        by: Actor,
        path_user: Option<UserId>,
        ids: &[u64],
        changes: &TaskChangeSet,
        now: &str,
    ) -> Result<Written<Vec<Task>>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.write_tasks, now);
        inv.arg(action.arg())
            .arg(by.arg())
            .arg(opt(path_user))
            .arg(opt(changes.group))
            .arg(ids.len())
            .arg(ids);
        if action == TaskAction::Update {
            for (k, v) in changes.pairs() {
                inv.arg(k).arg(v);
            }
        }
        Ok(self.write(&inv).await?.map(|rows| {
            rows.into_iter()
                .filter_map(|row| match row {
                    Value::BulkString(raw) => Task::from_json(&raw),
                    _ => None,
                })
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_rows_tail_is_the_task_json_after_its_id() {
        let row = NewTaskRow {
            title: "Ünïcode \"quoted\" \\ \n\t\u{1F600}",
            priority: 3,
            deadline: "2026-12-31",
            information: "",
            user_id: 7,
            group_id: 12,
            now: "2026-11-21T08:00:00.000000Z",
        };
        let task = Task {
            id: 42,
            title: row.title.to_owned(),
            status: false,
            priority: 3,
            deadline: row.deadline.to_owned(),
            information: String::new(),
            user_id: 7,
            group_id: 12,
            created_at: row.now.to_owned(),
            updated_at: row.now.to_owned(),
        };
        let expected = serde_json::to_string(&task).expect("serialised");
        assert_eq!(format!("{{\"id\":42{}", row.tail()), expected);
    }

    #[test]
    fn task_changes_are_sent_in_a_fixed_order() {
        let changes = TaskChangeSet {
            title: Some("t".into()),
            priority: Some(Priority::parse(3).expect("valid")),
            deadline: Some(Deadline::parse("").expect("valid")),
            information: Some("i".into()),
            status: Some(false),
            group: Some(GroupId(4)),
        };
        let names: Vec<&str> = changes.pairs().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            ["title", "priority", "deadline", "information", "status"]
        );
        assert_eq!(changes.pairs()[1].1, "3");
        assert_eq!(changes.pairs()[2].1, "");
        assert_eq!(changes.pairs()[4].1, "0");
        assert!(TaskChangeSet::default().pairs().is_empty());
    }
}
