//! Reads of rows and indexes.
//!
//! Single rows and short lists use plain commands (HGETALL, GET, MGET,
//! pipelined): a script costs Redis several times more than the reads it
//! makes. Listings whose ids come from a set use the `rows` script, which
//! reads the set and its rows in one step.

use redis::Value;
use taskmaster_shared::domain::{GroupId, TaskId, UserId};
use taskmaster_shared::keys::RowType;
use taskmaster_shared::model::{Group, Task, User};

use super::scripts::SCRIPTS;
use super::value::{array, fields, string, u64_of};
use super::{Source, Store, StoreError, ids, task_json};

/// The detail of one group.
pub struct GroupDetail {
    pub group: Group,
    pub users_count: u64,
    pub tasks_count: u64,
    /// The admin's id, full name and email, when the admin exists.
    pub admin: Option<(u64, String, String)>,
}

/// How many members a set may have to be read in one reply; larger ones
/// are read in pages with `SSCAN`, so that no single reply makes Redis
/// build a huge answer while others wait.
const SMALL_SET: u64 = 2000;

impl Store {
    /// The key of a set-backed source.
    fn set_key(&self, source: Source<'_>) -> Option<String> {
        let keys = &self.keys;
        Some(match source {
            Source::AllUsers => keys.all(RowType::User),
            Source::AllGroups => keys.all(RowType::Group),
            Source::GroupMembers(g) => keys.group_members(g.get()),
            Source::GroupTasks(g) => keys.group_tasks(g.get()),
            Source::UserTasks(u) => keys.user_tasks(u.get()),
            Source::Ids(_) | Source::VisibleUsers(_) => return None,
        })
    }

    /// The rows of `source` through the `rows` script.
    async fn rows(&self, t: RowType, source: Source<'_>) -> Result<Vec<Value>, StoreError> {
        let mut inv = self.read_call(&SCRIPTS.rows);
        inv.arg(t.singular());
        match source {
            Source::Ids(ids) => {
                inv.arg("ids").arg(ids);
            }
            Source::VisibleUsers(id) => {
                inv.arg("visible_users").arg(id.get());
            }
            set => {
                inv.arg("set").arg(self.set_key(set).unwrap_or_default());
            }
        }
        array(self.eval(&inv).await?).ok_or(StoreError::Malformed("rows reply"))
    }

    /// Users from `source`, missing ones skipped, sorted by id.
    pub async fn users(&self, source: Source<'_>) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self
            .rows(RowType::User, source)
            .await?
            .into_iter()
            .filter_map(|entry| {
                let mut pair = array(entry)?.into_iter();
                let f = fields(pair.next()?);
                let groups = ids(pair.next()?);
                User::from_fields(&f, groups)
            })
            .collect();
        users.sort_unstable_by_key(|u| u.id);
        Ok(users)
    }

    /// Adds the two commands that read user `id` (its hash and its groups),
    /// for [`user_from`].
    fn user_commands(&self, pipe: &mut redis::Pipeline, id: UserId) {
        pipe.cmd("HGETALL")
            .arg(self.keys.row(RowType::User, id.get()))
            .cmd("SMEMBERS")
            .arg(self.keys.user_groups(id.get()));
    }

    /// One user: plain commands in one pipeline.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let mut pipe = redis::pipe();
        self.user_commands(&mut pipe, id);
        let (row, groups): (Value, Value) = self.query(&pipe).await?;
        Ok(user_from(row, groups))
    }

    /// Groups from `source`, missing ones skipped, sorted by id.
    pub async fn groups(&self, source: Source<'_>) -> Result<Vec<Group>, StoreError> {
        let mut groups: Vec<Group> = self
            .rows(RowType::Group, source)
            .await?
            .into_iter()
            .filter_map(|v| Group::from_fields(&fields(v)))
            .collect();
        groups.sort_unstable_by_key(|g| g.id);
        Ok(groups)
    }

    /// One group.
    pub async fn group(&self, id: GroupId) -> Result<Option<Group>, StoreError> {
        Ok(self.groups(Source::Ids(&[id.get()])).await?.pop())
    }

    /// Tasks from `source`, missing ones skipped, sorted by id.
    pub async fn tasks(&self, source: Source<'_>) -> Result<Vec<Task>, StoreError> {
        Ok(sorted_tasks(task_json(
            self.rows(RowType::Task, source).await?,
        )))
    }

    /// Tasks with the given ids, read in chunks of 1,000 (one MGET each),
    /// sorted by id; missing ones are skipped.
    pub async fn tasks_chunked(&self, ids: &[u64]) -> Result<Vec<Task>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let mut mget = redis::cmd("MGET");
            for id in chunk {
                mget.arg(self.keys.row(RowType::Task, *id));
            }
            let rows: Vec<Value> = self.query_one(&mget).await?;
            out.extend(task_json(rows).iter().filter_map(|r| Task::from_json(r)));
        }
        out.sort_unstable_by_key(|t| t.id);
        Ok(out)
    }

    /// Every id of a set-backed `source` (a possibly huge set), read in
    /// pages with `SSCAN` so that Redis is never blocked for long; sorted.
    pub async fn ids_of(&self, source: Source<'_>) -> Result<Vec<u64>, StoreError> {
        let key = match source {
            Source::Ids(ids) => return Ok(ids.to_vec()),
            other => self
                .set_key(other)
                .ok_or(StoreError::Malformed("not a set-backed source"))?,
        };
        self.set_members_chunked(&key).await
    }

    async fn set_members_chunked(&self, key: &str) -> Result<Vec<u64>, StoreError> {
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, batch): (u64, Vec<u64>) = self
                .query_one(
                    redis::cmd("SSCAN")
                        .arg(key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(SMALL_SET),
                )
                .await?;
            out.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Every task id, sorted: the union of every user's task set (there is
    /// no set of all tasks; see `shared/src/keys/mod.rs`). Small sets are read
    /// in one pipeline per 500 users, a large one in pages.
    pub async fn all_task_ids(&self) -> Result<Vec<u64>, StoreError> {
        let sizes = self.task_set_sizes().await?;
        let mut out = Vec::new();
        for chunk in sizes.chunks(500) {
            let mut small = redis::pipe();
            for (user, _) in chunk.iter().filter(|(_, n)| (1..=SMALL_SET).contains(n)) {
                small.cmd("SMEMBERS").arg(self.keys.user_tasks(*user));
            }
            if small.cmd_iter().next().is_some() {
                let sets: Vec<Vec<u64>> = self.query(&small).await?;
                out.extend(sets.into_iter().flatten());
            }
            for (user, _) in chunk.iter().filter(|(_, n)| *n > SMALL_SET) {
                out.extend(
                    self.set_members_chunked(&self.keys.user_tasks(*user))
                        .await?,
                );
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// How many tasks there are: the sizes of every user's task set.
    pub async fn task_count(&self) -> Result<u64, StoreError> {
        Ok(self.task_set_sizes().await?.iter().map(|(_, n)| n).sum())
    }

    /// Every user with the size of its task set, one pipeline of `SCARD`
    /// per 500 users.
    async fn task_set_sizes(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let users = self
            .set_members_chunked(&self.keys.all(RowType::User))
            .await?;
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(500) {
            let mut sizes = redis::pipe();
            for user in chunk {
                sizes.cmd("SCARD").arg(self.keys.user_tasks(*user));
            }
            let sizes: Vec<u64> = self.query(&sizes).await?;
            out.extend(chunk.iter().copied().zip(sizes));
        }
        Ok(out)
    }

    /// Task `id`'s row as stored, if it exists.
    pub async fn task_row(&self, id: TaskId) -> Result<Option<Vec<u8>>, StoreError> {
        self.query_one(redis::cmd("GET").arg(self.keys.row(RowType::Task, id.get())))
            .await
    }

    /// The record of an `Idempotency-Key` of `principal`, by the key's
    /// digest (see `crate::idempotency`).
    pub fn idempotency_record(&self, principal: &str, key_digest: &str) -> String {
        self.keys.idempotency(principal, key_digest)
    }

    /// Keeps the first answer of an idempotent create in its record.
    pub async fn remember_answer(&self, record: &str, body: &[u8]) -> Result<(), StoreError> {
        self.query_one(redis::cmd("HSET").arg(record).arg("body").arg(body))
            .await
    }

    /// The first answer kept in an idempotent create's record.
    pub async fn kept_answer(&self, record: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query_one(redis::cmd("HGET").arg(record).arg("body"))
            .await
    }

    /// How many tasks user `id` has.
    pub async fn task_count_of(&self, id: UserId) -> Result<u64, StoreError> {
        self.query_one(redis::cmd("SCARD").arg(self.keys.user_tasks(id.get())))
            .await
    }

    /// How many users there are.
    pub async fn user_count(&self) -> Result<u64, StoreError> {
        self.query_one(redis::cmd("SCARD").arg(self.keys.all(RowType::User)))
            .await
    }

    pub async fn group_detail(&self, id: GroupId) -> Result<Option<GroupDetail>, StoreError> {
        let mut inv = self.read_call(&SCRIPTS.group_detail);
        inv.arg(id.get());
        let items = array(self.eval(&inv).await?).ok_or(StoreError::Malformed("group detail"))?;
        let mut it = items.into_iter();
        let group = it.next().map(fields).and_then(|f| Group::from_fields(&f));
        let Some(group) = group else { return Ok(None) };
        let users_count = it.next().as_ref().and_then(u64_of).unwrap_or(0);
        let tasks_count = it.next().as_ref().and_then(u64_of).unwrap_or(0);
        let admin = it.next().and_then(array).and_then(|a| {
            let id = u64_of(a.first()?)?;
            Some((id, string(a.get(1)?)?, string(a.get(2)?)?))
        });
        Ok(Some(GroupDetail {
            group,
            users_count,
            tasks_count,
            admin,
        }))
    }

    /// The command reading the stored rows of user `id`'s tasks, in set
    /// order (`SORT … BY nosort GET`: sorting by id is left to the api,
    /// which spares Redis parsing every id as a float).
    fn user_task_rows_command(&self, id: UserId) -> redis::Cmd {
        let mut cmd = redis::cmd("SORT");
        cmd.arg(self.keys.user_tasks(id.get()))
            .arg("BY")
            .arg("nosort")
            .arg("GET")
            .arg(self.keys.task_row_pattern());
        cmd
    }

    /// The stored JSON of user `id`'s tasks, in no particular order.
    pub async fn user_task_rows(&self, id: UserId) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows: Value = self.query_one(&self.user_task_rows_command(id)).await?;
        Ok(task_json(array(rows).unwrap_or_default()))
    }

    /// User `id` and the stored JSON of its tasks, in one round trip.
    pub async fn user_with_task_rows(
        &self,
        id: UserId,
    ) -> Result<(Option<User>, Vec<Vec<u8>>), StoreError> {
        let mut pipe = redis::pipe();
        self.user_commands(&mut pipe, id);
        pipe.add_command(self.user_task_rows_command(id));
        let (row, groups, rows): (Value, Value, Value) = self.query(&pipe).await?;
        Ok((
            user_from(row, groups),
            task_json(array(rows).unwrap_or_default()),
        ))
    }
}

/// A user from a script's `row` (HGETALL) and `groups` (SMEMBERS) replies.
pub(super) fn user_from(row: Value, groups: Value) -> Option<User> {
    User::from_fields(&fields(row), ids(groups))
}

/// Tasks from their stored JSON, damaged ones skipped, sorted by id.
pub fn sorted_tasks(rows: Vec<Vec<u8>>) -> Vec<Task> {
    let mut tasks: Vec<Task> = rows.iter().filter_map(|r| Task::from_json(r)).collect();
    tasks.sort_unstable_by_key(|t| t.id);
    tasks
}
