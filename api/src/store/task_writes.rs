//! The task write scripts: `create_tasks` (every create an api shard
//! gathered, in one step) and `write_tasks` (update, mark done, delete, of
//! one task or a batch), one typed method each.

use redis::{ScriptInvocation, Value};
use taskmaster_shared::domain::{Deadline, GroupId, Labels, Priority, TaskState, UserId};
use taskmaster_shared::model::Task;

use super::meter::{Meter, Metered, parse_metered};
use super::refusal::create_entry;
use super::scripts::SCRIPTS;
use super::writes::{Actor, opt};
use super::{Store, StoreError, Written};

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

/// Validated changes to tasks; `None` (or an empty set to add or remove)
/// leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskChangeSet {
    pub title: Option<String>,
    pub priority: Option<Priority>,
    pub deadline: Option<Deadline>,
    pub information: Option<String>,
    pub status: Option<bool>,
    pub state: Option<TaskState>,
    /// The new set of labels.
    pub labels: Option<Labels>,
    /// Labels to add to (then remove from) each task's own.
    pub add_labels: Labels,
    pub remove_labels: Labels,
    /// Move the tasks to this group (their users must be members).
    pub group: Option<GroupId>,
    /// A conditional write of one task (`If-Match`): its row as stored
    /// must still be this, checked in the write's own step.
    pub unchanged_from: Option<Vec<u8>>,
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
        if let Some(s) = self.state {
            pairs.push(("state", s.as_str().to_owned()));
        }
        if let Some(l) = &self.labels {
            pairs.push(("labels", l.joined()));
        }
        if !self.add_labels.is_empty() {
            pairs.push(("add_labels", self.add_labels.joined()));
        }
        if !self.remove_labels.is_empty() {
            pairs.push(("remove_labels", self.remove_labels.joined()));
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
    /// Both `created_at` and `updated_at` (and `completed_at` when the
    /// task is created done).
    pub now: &'a str,
    pub state: TaskState,
    pub created_by: Option<u64>,
    pub labels: &'a Labels,
}

impl NewTaskRow<'_> {
    /// The create of this row, unguarded and uncounted, in the current
    /// request's context (the fields that say otherwise can be set after).
    pub fn to_create(&self) -> NewCreate {
        self.create_in(crate::acting::context().to_string())
    }

    /// [`NewTaskRow::to_create`] in the change log context `context` (an
    /// import job's, which outlives its request).
    pub fn create_in(&self, context: String) -> NewCreate {
        NewCreate {
            user: UserId(self.user_id),
            group: GroupId(self.group_id),
            admin_check: None,
            guard: None,
            tail: self.tail(),
            labels: self.labels.joined(),
            order: self.order_heads(),
            idempotency: None,
            meter: None,
            context,
        }
    }

    /// The heads of the new task's members in the order indexes but the
    /// id's, joined by newlines: the script appends the id it hands out
    /// (see `taskmaster_shared::order`).
    pub fn order_heads(&self) -> String {
        use taskmaster_shared::order::{SortKey, deadline_text, time_text};
        format!(
            "{}{}\n{}{}\n{}{}",
            char::from(SortKey::Priority.tag()),
            self.priority,
            char::from(SortKey::Deadline.tag()),
            deadline_text(self.deadline),
            char::from(SortKey::UpdatedAt.tag()),
            time_text(self.now),
        )
    }

    /// The row's JSON after its id, `,"title":…,"completed_at":…}`, in
    /// the field order of [`Task`]; the script prepends `{"id":N`.
    pub fn tail(&self) -> String {
        // Written by hand (the strings go through serde_json for their
        // escaping): this is on every create's path, and a derived
        // serialisation was most of its cost.
        fn key(out: &mut Vec<u8>, name: &str) {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        }
        fn text(out: &mut Vec<u8>, name: &str, value: &str) {
            key(out, name);
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        }
        fn number(out: &mut Vec<u8>, name: &str, value: u64) {
            key(out, name);
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        }
        let labels: usize = self.labels.iter().map(|l| l.len() + 3).sum();
        let mut out = Vec::with_capacity(
            256 + self.title.len() + self.information.len() + self.deadline.len() + labels,
        );
        let done = self.state.is_done();
        text(&mut out, "title", self.title);
        out.extend_from_slice(if done {
            b",\"status\":true"
        } else {
            b",\"status\":false"
        });
        number(&mut out, "priority", u64::from(self.priority));
        text(&mut out, "deadline", self.deadline);
        text(&mut out, "information", self.information);
        number(&mut out, "user_id", self.user_id);
        number(&mut out, "group_id", self.group_id);
        text(&mut out, "created_at", self.now);
        text(&mut out, "updated_at", self.now);
        text(&mut out, "state", self.state.as_str());
        match self.created_by {
            Some(id) => number(&mut out, "created_by", id),
            None => out.extend_from_slice(b",\"created_by\":null"),
        }
        key(&mut out, "labels");
        out.push(b'[');
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, l);
        }
        out.push(b']');
        if done {
            text(&mut out, "completed_at", self.now);
        } else {
            out.extend_from_slice(b",\"completed_at\":null");
        }
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
    /// The row's labels as [`Labels::joined`], for the group's label index.
    pub labels: String,
    /// The heads of its members in the order indexes (see
    /// [`NewTaskRow::order_heads`]).
    pub order: String,
    /// Its `Idempotency-Key` record and the request's digest (see
    /// [`crate::idempotency`]).
    pub idempotency: Option<(String, String)>,
    /// The rate limit this create counts against, when no earlier step
    /// of its request counted it.
    pub meter: Option<Meter>,
    /// Who creates it and how it authenticated, for the change log
    /// ([`crate::acting::Context`]'s text).
    pub context: String,
}

impl Store {
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
        self.create_args(&mut inv, creates);
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

    /// `create_tasks.lua`'s arguments after the time: the quotas, then
    /// each create's fourteen.
    pub(super) fn create_args(&self, inv: &mut ScriptInvocation<'_>, creates: &[NewCreate]) {
        inv.arg(self.quotas.per_user).arg(self.quotas.per_group);
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
            inv.arg(&c.labels).arg(&c.context).arg(&c.order);
            match &c.idempotency {
                Some((key, digest)) => inv.arg(key).arg(digest),
                None => inv.arg("").arg(""),
            };
        }
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
            .arg(self.quotas.per_group)
            .arg(changes.unchanged_from.as_deref().unwrap_or_default())
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
        let labels = Labels::parse(
            "labels",
            &["zeta".to_owned(), "Ünï \"q\"".to_owned(), "日本".to_owned()],
        )
        .expect("valid");
        for (state, created_by) in [(TaskState::Todo, Some(3)), (TaskState::Done, None)] {
            let row = NewTaskRow {
                title: "Ünïcode \"quoted\" \\ \n\t\u{1F600}",
                priority: 3,
                deadline: "2026-12-31",
                information: "",
                user_id: 7,
                group_id: 12,
                now: "2026-11-21T08:00:00.000000Z",
                state,
                created_by,
                labels: &labels,
            };
            let task = Task {
                id: 42,
                title: row.title.to_owned(),
                status: state.is_done(),
                priority: 3,
                deadline: row.deadline.to_owned(),
                information: String::new(),
                user_id: 7,
                group_id: 12,
                created_at: row.now.to_owned(),
                updated_at: row.now.to_owned(),
                state,
                created_by,
                labels: labels.iter().map(str::to_owned).collect(),
                completed_at: state.is_done().then(|| row.now.to_owned()),
            };
            let expected = serde_json::to_string(&task).expect("serialised");
            assert_eq!(format!("{{\"id\":42{}", row.tail()), expected);
            assert!(taskmaster_shared::model::is_current_task_row(
                expected.as_bytes()
            ));
        }
    }

    #[test]
    fn task_changes_are_sent_in_a_fixed_order() {
        let labels = |l: &[&str]| {
            Labels::parse(
                "labels",
                &l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
            .expect("valid")
        };
        let changes = TaskChangeSet {
            title: Some("t".into()),
            priority: Some(Priority::parse(3).expect("valid")),
            deadline: Some(Deadline::parse("").expect("valid")),
            information: Some("i".into()),
            status: Some(false),
            state: Some(TaskState::InProgress),
            labels: Some(labels(&["b", "a"])),
            add_labels: labels(&["c"]),
            remove_labels: labels(&[]),
            group: Some(GroupId(4)),
            unchanged_from: None,
        };
        let pairs = changes.pairs();
        let names: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "title",
                "priority",
                "deadline",
                "information",
                "status",
                "state",
                "labels",
                "add_labels"
            ]
        );
        assert_eq!(pairs[1].1, "3");
        assert_eq!(pairs[2].1, "");
        assert_eq!(pairs[4].1, "0");
        assert_eq!(pairs[5].1, "in_progress");
        assert_eq!(pairs[6].1, "a\nb");
        assert!(TaskChangeSet::default().pairs().is_empty());
    }
}
