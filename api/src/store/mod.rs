//! Redis access: every read and write of the api goes through here.
//!
//! Each write endpoint is one Lua script (`lua/*.lua`, each prefixed with
//! `lua/common.lua`), so that the row, its indexes, the dirty set and the
//! notification change in one atomic step, and the checks a write depends on
//! (uniqueness, existence, membership, who may change a task) are made in
//! that same step. Scripts answer `{'OK', …}` or `{'ERR', code, detail}`;
//! [`Outcome`] carries that to the handlers, which map codes to answers.
//!
//! Key names come from `taskmaster_shared::keys` (the scripts build the same
//! names from the prefix).

mod value;

use std::sync::{Arc, LazyLock};

use redis::{Script, ScriptInvocation, Value};
use taskmaster_shared::domain::Role;
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::model::{Group, Task, User};
use taskmaster_shared::redis_pool::{self, RedisPool, RunError};

pub use value::{array, fields, string, u64_of};

/// What can go wrong talking to Redis.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("timed out waiting for a redis connection")]
    PoolTimeout,
    #[error("unexpected reply from redis: {0}")]
    Malformed(&'static str),
    /// A write script refused: the `maintenance` key is set (a restore).
    #[error("maintenance in progress")]
    Maintenance,
}

impl From<RunError<redis::RedisError>> for StoreError {
    fn from(e: RunError<redis::RedisError>) -> Self {
        match e {
            RunError::User(e) => StoreError::Redis(e),
            RunError::TimedOut => StoreError::PoolTimeout,
        }
    }
}

/// A script's answer.
#[derive(Debug)]
pub enum Outcome {
    /// `{'OK', values…}`: the values after the marker.
    Ok(Vec<Value>),
    /// `{'ERR', code, details…}`: a rule refused the write; nothing changed.
    Refused { code: String, details: Vec<String> },
}

macro_rules! script {
    ($name:literal) => {
        Script::new(concat!(
            include_str!("lua/common.lua"),
            "\n",
            include_str!(concat!("lua/", $name, ".lua"))
        ))
    };
}

/// The scripts, hashed once (the client uses EVALSHA and loads a script
/// again after a Redis restart).
pub struct Scripts {
    pub rows: Script,
    pub group_detail: Script,
    pub create_user: Script,
    pub update_user: Script,
    pub delete_user: Script,
    pub create_group: Script,
    pub update_group: Script,
    pub delete_group: Script,
    pub add_member: Script,
    pub remove_member: Script,
    pub create_tasks: Script,
    pub write_tasks: Script,
    pub bootstrap_owner: Script,
    pub rotate_owner_password: Script,
    pub remember_owner_password: Script,
}

pub static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    rows: script!("rows"),
    group_detail: script!("group_detail"),
    create_user: script!("create_user"),
    update_user: script!("update_user"),
    delete_user: script!("delete_user"),
    create_group: script!("create_group"),
    update_group: script!("update_group"),
    delete_group: script!("delete_group"),
    add_member: script!("add_member"),
    remove_member: script!("remove_member"),
    create_tasks: script!("create_tasks"),
    write_tasks: script!("write_tasks"),
    bootstrap_owner: script!("bootstrap_owner"),
    rotate_owner_password: script!("rotate_owner_password"),
    remember_owner_password: script!("remember_owner_password"),
});

/// Where the ids of a row listing come from.
pub enum Source<'a> {
    Ids(&'a [u64]),
    /// The members of a set (a full key name from [`Keys`]).
    Set(String),
    /// A caller and every member of the groups the caller administers.
    VisibleUsers(u64),
}

/// How many pipeline replies [`Store::auth_commands`] produces.
pub const AUTH_COMMANDS: usize = 4;

/// The data behind authentication.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    pub id: u64,
    pub password_hash: String,
    pub role: Role,
    pub credential_version: u64,
    pub groups: Vec<u64>,
    pub admin_of: Vec<u64>,
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

/// The detail of one group.
pub struct GroupDetail {
    pub group: Group,
    pub users_count: u64,
    pub tasks_count: u64,
    pub admin: Option<(u64, String, String)>,
}

/// Handle to the store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub pool: RedisPool,
    pub keys: Arc<Keys>,
}

impl Store {
    pub fn new(pool: RedisPool, keys: Arc<Keys>) -> Self {
        Store { pool, keys }
    }

    /// An invocation with the prefix (and, for writes, the time) as the
    /// first arguments.
    pub fn invocation<'s>(&self, script: &'s Script, now: Option<&str>) -> ScriptInvocation<'s> {
        let mut inv = script.prepare_invoke();
        inv.arg(self.keys.prefix());
        if let Some(now) = now {
            inv.arg(now);
        }
        inv
    }

    /// Runs a script and returns its raw reply.
    pub async fn eval(&self, inv: &ScriptInvocation<'_>) -> Result<Value, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(inv.invoke_async(&mut conn).await?)
    }

    /// Runs a write script and splits its reply into [`Outcome`].
    pub async fn write(&self, inv: &ScriptInvocation<'_>) -> Result<Outcome, StoreError> {
        outcome(self.eval(inv).await?)
    }

    /// Loads what authentication needs, by id or by email key: plain
    /// commands in one pipeline (an email costs one more round trip, to
    /// find the id).
    pub async fn auth_record(
        &self,
        id: Option<u64>,
        email_key: &str,
    ) -> Result<Option<AuthRecord>, StoreError> {
        let id = match id {
            Some(id) => id,
            None => {
                let mut conn = redis_pool::shared(&self.pool).await?;
                let found: Option<u64> = redis::cmd("HGET")
                    .arg(self.keys.email_index())
                    .arg(email_key)
                    .query_async(&mut conn)
                    .await?;
                match found {
                    Some(id) => id,
                    None => return Ok(None),
                }
            }
        };
        let mut pipe = redis::pipe();
        self.auth_commands(&mut pipe, id);
        let replies: Vec<Value> = self.query(&pipe).await?;
        self.parse_auth(id, replies)
    }

    /// Adds the [`AUTH_COMMANDS`] commands that read user `id`'s auth record.
    pub fn auth_commands(&self, pipe: &mut redis::Pipeline, id: u64) {
        pipe.cmd("HMGET")
            .arg(self.keys.row(RowType::User, id))
            .arg(&["pw", "role"])
            .cmd("GET")
            .arg(self.keys.user_cv(id))
            .cmd("SMEMBERS")
            .arg(self.keys.user_groups(id))
            .cmd("SMEMBERS")
            .arg(self.keys.user_admin_of(id));
    }

    /// Reads the replies to [`Store::auth_commands`].
    pub fn parse_auth(
        &self,
        id: u64,
        replies: Vec<Value>,
    ) -> Result<Option<AuthRecord>, StoreError> {
        let mut it = replies.into_iter();
        let (Some(fields), Some(version), Some(groups), Some(admin_of)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(StoreError::Malformed("auth replies"));
        };
        let fields = array(fields).unwrap_or_default();
        let get = |i: usize| fields.get(i).and_then(string);
        let (Some(password_hash), Some(role)) = (get(0), get(1)) else {
            return Ok(None);
        };
        let role = Role::parse(&role).map_err(|_| StoreError::Malformed("role"))?;
        Ok(Some(AuthRecord {
            id,
            password_hash,
            role,
            // A row without its version (written by hand, say) is never
            // remembered as current: see `parse_version`.
            credential_version: u64_of(&version).unwrap_or(0),
            groups: ids(groups),
            admin_of: ids(admin_of),
        }))
    }

    /// The command [`Store::parse_version`] reads: user `id`'s credential
    /// version, all a request about the user's own data needs once its
    /// password is known to be right (a change of role changes it too).
    pub fn version_command(&self, pipe: &mut redis::Pipeline, id: u64) {
        pipe.cmd("GET").arg(self.keys.user_cv(id));
    }

    /// The credential version from [`Store::version_command`]'s reply (or
    /// an `MGET` of [`Keys::user_cv`]); `None` when the user does not exist
    /// (its version goes with it).
    pub fn parse_version(&self, reply: Option<&Value>) -> Option<u64> {
        reply.and_then(u64_of).filter(|v| *v > 0)
    }

    /// Runs one command; its reply.
    pub async fn query_one<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// Runs a pipeline; its replies, one per command (as a `Vec<Value>`,
    /// or converted to any other shape the caller names).
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(pipe.query_async(&mut conn).await?)
    }

    /// The raw task rows (JSON or nil) for `ids`, in order, with one MGET.
    async fn task_rows(&self, ids: &[u64]) -> Result<Vec<Value>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for id in ids {
            cmd.arg(self.keys.row(RowType::Task, *id));
        }
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// Tasks by id with one MGET; missing ones are skipped; sorted by id.
    pub async fn tasks_by_ids(&self, ids: &[u64]) -> Result<Vec<Task>, StoreError> {
        Ok(sorted_tasks(self.task_rows(ids).await?))
    }

    async fn rows(&self, t: RowType, source: Source<'_>) -> Result<Vec<Value>, StoreError> {
        let mut inv = self.invocation(&SCRIPTS.rows, None);
        inv.arg(t.singular());
        match source {
            Source::Ids(ids) => {
                inv.arg("ids").arg(ids);
            }
            Source::Set(key) => {
                inv.arg("set").arg(key);
            }
            Source::VisibleUsers(id) => {
                inv.arg("visible_users").arg(id);
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

    /// One user: plain commands in one pipeline (a script costs Redis
    /// several times more than the reads it does).
    pub async fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        let (row, groups): (Value, Value) = redis::pipe()
            .cmd("HGETALL")
            .arg(self.keys.row(RowType::User, id))
            .cmd("SMEMBERS")
            .arg(self.keys.user_groups(id))
            .query_async(&mut conn)
            .await?;
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

    /// Tasks from `source`, missing ones skipped, sorted by id.
    pub async fn tasks(&self, source: Source<'_>) -> Result<Vec<Task>, StoreError> {
        Ok(sorted_tasks(self.rows(RowType::Task, source).await?))
    }

    /// One task: a plain GET of its JSON.
    pub async fn task(&self, id: u64) -> Result<Option<Task>, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        let row: Value = redis::cmd("GET")
            .arg(self.keys.row(RowType::Task, id))
            .query_async(&mut conn)
            .await?;
        Ok(task_from(row))
    }

    /// Every id in a (possibly huge) set, read in chunks with SSCAN so that
    /// Redis is never blocked for long.
    pub async fn set_members_chunked(&self, key: &str) -> Result<Vec<u64>, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, batch): (u64, Vec<u64>) = redis::cmd("SSCAN")
                .arg(key)
                .arg(cursor)
                .arg("COUNT")
                .arg(2000)
                .query_async(&mut conn)
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
    /// no set of all tasks; see `shared/src/keys.rs`). Small sets are read
    /// in one pipeline per 500 users, a large one with `SSCAN`, so that no
    /// single reply makes Redis build a huge answer while others wait.
    pub async fn all_task_ids(&self) -> Result<Vec<u64>, StoreError> {
        const SMALL: u64 = 2000;
        let sizes = self.task_set_sizes().await?;
        let mut out = Vec::new();
        for chunk in sizes.chunks(500) {
            let mut small = redis::pipe();
            for (user, _) in chunk.iter().filter(|(_, n)| (1..=SMALL).contains(n)) {
                small.cmd("SMEMBERS").arg(self.keys.user_tasks(*user));
            }
            if small.cmd_iter().next().is_some() {
                let sets: Vec<Vec<u64>> = self.query(&small).await?;
                out.extend(sets.into_iter().flatten());
            }
            for (user, _) in chunk.iter().filter(|(_, n)| *n > SMALL) {
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

    /// Tasks with the given ids, fetched in chunks of 1000 (one MGET
    /// each), sorted by id.
    pub async fn tasks_chunked(&self, ids: &[u64]) -> Result<Vec<Task>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            out.extend(self.tasks_by_ids(chunk).await?);
        }
        out.sort_unstable_by_key(|t| t.id);
        Ok(out)
    }

    pub async fn group_detail(&self, id: u64) -> Result<Option<GroupDetail>, StoreError> {
        let mut inv = self.invocation(&SCRIPTS.group_detail, None);
        inv.arg(id);
        let items = array(self.eval(&inv).await?).ok_or(StoreError::Malformed("group detail"))?;
        if items.is_empty() {
            return Ok(None);
        }
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

    /// Adds the command reading the stored rows of user `id`'s tasks, in
    /// set order (`SORT … BY nosort GET`: sorting by id is left to the
    /// api, which spares Redis parsing every id as a float).
    pub fn user_task_rows_command(&self, pipe: &mut redis::Pipeline, id: u64) {
        pipe.cmd("SORT")
            .arg(self.keys.user_tasks(id))
            .arg("BY")
            .arg("nosort")
            .arg("GET")
            .arg(self.keys.task_row_pattern());
    }

    /// SCARD of a set.
    pub async fn count(&self, key: &str) -> Result<u64, StoreError> {
        let mut conn = redis_pool::shared(&self.pool).await?;
        Ok(redis::cmd("SCARD").arg(key).query_async(&mut conn).await?)
    }
}

/// A write script's reply split into [`Outcome`]; `MAINTENANCE` is an
/// error of its own.
pub fn outcome(reply: Value) -> Result<Outcome, StoreError> {
    let mut items = array(reply).ok_or(StoreError::Malformed("script reply"))?;
    if items.is_empty() {
        return Err(StoreError::Malformed("empty script reply"));
    }
    let marker = string(&items.remove(0)).unwrap_or_default();
    match marker.as_str() {
        "OK" => Ok(Outcome::Ok(items)),
        "ERR" => {
            let mut details: Vec<String> = items.iter().filter_map(string).collect();
            let code = if details.is_empty() {
                String::new()
            } else {
                details.remove(0)
            };
            if code == "MAINTENANCE" {
                return Err(StoreError::Maintenance);
            }
            Ok(Outcome::Refused { code, details })
        }
        _ => Err(StoreError::Malformed("script marker")),
    }
}

/// A user from a script's `row` (HGETALL) and `groups` (SMEMBERS) replies.
pub fn user_from(row: Value, groups: Value) -> Option<User> {
    User::from_fields(&fields(row), ids(groups))
}

/// The task rows among `rows` (replies of GET, MGET or SORT … GET) as
/// stored JSON; missing ones are skipped.
pub fn task_json(rows: Vec<Value>) -> Vec<Vec<u8>> {
    rows.into_iter()
        .filter_map(|v| match v {
            Value::BulkString(raw) if is_object_text(&raw) => Some(raw),
            _ => None,
        })
        .collect()
}

/// Whether a stored row looks like a JSON object. Rows are written by our
/// scripts only; the check keeps a damaged value from breaking an answer
/// it would be spliced into.
pub fn is_object_text(raw: &[u8]) -> bool {
    raw.first() == Some(&b'{') && raw.last() == Some(&b'}')
}

/// A task from a reply holding its stored JSON (nil when missing).
pub fn task_from(row: Value) -> Option<Task> {
    match row {
        Value::BulkString(raw) => Task::from_json(&raw),
        _ => None,
    }
}

/// Tasks from replies holding their JSON; missing ones skipped; by id.
pub fn sorted_tasks(rows: Vec<Value>) -> Vec<Task> {
    let mut tasks: Vec<Task> = rows.into_iter().filter_map(task_from).collect();
    tasks.sort_unstable_by_key(|t| t.id);
    tasks
}

/// A list of ids from a reply, sorted.
pub fn ids(v: Value) -> Vec<u64> {
    let mut out: Vec<u64> = array(v)
        .unwrap_or_default()
        .iter()
        .filter_map(u64_of)
        .collect();
    out.sort_unstable();
    out
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
}
