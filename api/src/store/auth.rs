//! What authentication reads, alone or in the same round trip as the
//! request's own data (a [`Prefetch`]).
//!
//! A caller asking about its own data with a credential verified moments
//! ago needs only its credential version (`P user:{id}:cv`); anyone else
//! needs the whole auth record (hash, role, version, groups, groups
//! administered). Either way the request's data rides along, so the
//! hottest requests take one round trip.

use redis::Value;
use taskmaster_shared::domain::{Role, TaskId, UserId};
use taskmaster_shared::keys::{Keys, RowType};

use super::meter::{Meter, Metered, parse_metered};
use super::value::{array, string, u64_of};
use super::{Store, StoreError, ids, is_object_text};

/// The data behind authentication.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    pub id: u64,
    pub password_hash: String,
    pub role: Role,
    pub credential_version: u64,
    pub groups: Vec<u64>,
    pub admin_of: Vec<u64>,
    /// `false` once deactivated: no credential of the user passes.
    pub active: bool,
}

/// How many pipeline replies the auth record takes.
pub(super) const AUTH_COMMANDS: usize = 4;

/// Data a request reads in its authentication round trip. Implemented
/// here only: [`Nothing`], [`TaskRow`] and [`ListHead`].
pub trait Prefetch {
    type Output;
    /// Adds the commands that read it.
    fn commands(&self, keys: &Keys, pipe: &mut redis::Pipeline);
    /// The key, when the data is one key's value: it is then read with the
    /// credential version in one `MGET`, Redis's cheapest round trip for
    /// two keys.
    fn single_key(&self, keys: &Keys) -> Option<String>;
    /// Reads the replies to [`Prefetch::commands`].
    fn parse(replies: Vec<Value>) -> Result<Self::Output, StoreError>;
}

/// Nothing beyond authentication.
pub struct Nothing;

impl Prefetch for Nothing {
    type Output = ();

    fn commands(&self, _: &Keys, _: &mut redis::Pipeline) {}

    fn single_key(&self, _: &Keys) -> Option<String> {
        None
    }

    fn parse(_: Vec<Value>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A task's stored JSON, as it is answered (`None`: missing or damaged).
pub struct TaskRow(pub TaskId);

impl Prefetch for TaskRow {
    type Output = Option<Vec<u8>>;

    fn commands(&self, keys: &Keys, pipe: &mut redis::Pipeline) {
        pipe.cmd("GET").arg(keys.row(RowType::Task, self.0.get()));
    }

    fn single_key(&self, keys: &Keys) -> Option<String> {
        Some(keys.row(RowType::Task, self.0.get()))
    }

    fn parse(replies: Vec<Value>) -> Result<Self::Output, StoreError> {
        Ok(match replies.into_iter().next() {
            Some(Value::BulkString(raw)) if is_object_text(&raw) => Some(raw),
            _ => None,
        })
    }
}

/// Whether a user exists, the version of its task list (`P user:{id}`
/// field `tv`) and how many tasks it has: `None` when the user does not
/// exist.
pub struct ListHead(pub UserId);

/// What [`ListHead`] reads of an existing user.
#[derive(Debug, Clone, Copy)]
pub struct ListHeadInfo {
    /// `None` when it cannot be read (nothing may be cached).
    pub version: Option<u64>,
    /// The size of its task set.
    pub tasks: u64,
}

impl Prefetch for ListHead {
    type Output = Option<ListHeadInfo>;

    fn commands(&self, keys: &Keys, pipe: &mut redis::Pipeline) {
        pipe.cmd("HMGET")
            .arg(keys.row(RowType::User, self.0.get()))
            .arg(&["id", "tv"]);
        pipe.cmd("SCARD").arg(keys.user_tasks(self.0.get()));
    }

    fn single_key(&self, _: &Keys) -> Option<String> {
        None
    }

    fn parse(replies: Vec<Value>) -> Result<Self::Output, StoreError> {
        let mut replies = replies.into_iter();
        let head = replies
            .next()
            .and_then(array)
            .ok_or(StoreError::Malformed("list head"))?;
        let tasks = replies.next().as_ref().and_then(u64_of).unwrap_or(0);
        let mut head = head.into_iter();
        if matches!(head.next(), None | Some(Value::Nil)) {
            return Ok(None);
        }
        // No `tv` yet: no write has touched the user's tasks since it was made.
        let version = match head.next() {
            None | Some(Value::Nil) => Some(0),
            Some(v) => u64_of(&v),
        };
        Ok(Some(ListHeadInfo { version, tasks }))
    }
}

impl Store {
    /// What authentication needs, by id or by email key: plain commands in
    /// one pipeline (an email costs one more round trip, to find the id).
    pub async fn auth_record(
        &self,
        id: Option<UserId>,
        email_key: &str,
        meter: &(dyn Fn(UserId) -> Option<Meter> + Sync),
    ) -> Result<(Option<AuthRecord>, Option<Metered>), StoreError> {
        let id = match id {
            Some(id) => id,
            None => {
                let found: Option<u64> = self
                    .query_one(
                        redis::cmd("HGET")
                            .arg(self.keys.email_index())
                            .arg(email_key),
                    )
                    .await?;
                match found {
                    Some(id) => UserId(id),
                    None => return Ok((None, None)),
                }
            }
        };
        let meter = meter(id);
        let mut pipe = redis::pipe();
        if let Some(m) = &meter {
            self.add_meter(&mut pipe, m);
        }
        self.auth_commands(&mut pipe, id);
        let mut replies = self.send(&pipe, meter.is_some()).await?;
        let metered = take_meter(&mut replies, meter.as_ref())?;
        Ok((parse_auth(id, replies)?, metered))
    }

    /// Whether an email (by its key) belongs to an account, counting the
    /// request at `meter` in the same round trip: what a registration
    /// checks before it pays for hashing a password.
    pub async fn email_taken(
        &self,
        email_key: &str,
        meter: &Meter,
    ) -> Result<(bool, Metered), StoreError> {
        let mut pipe = redis::pipe();
        self.add_meter(&mut pipe, meter);
        pipe.cmd("HEXISTS")
            .arg(self.keys.email_index())
            .arg(email_key);
        let mut replies = self.query_metered(&pipe).await?;
        let metered =
            take_meter(&mut replies, Some(meter))?.ok_or(StoreError::Malformed("rate count"))?;
        let taken = replies.first().and_then(u64_of) == Some(1);
        Ok((taken, metered))
    }

    /// Sends a pipeline, through [`Store::query_metered`] when it counts a
    /// request.
    pub(super) async fn send(
        &self,
        pipe: &redis::Pipeline,
        metered: bool,
    ) -> Result<Vec<Value>, StoreError> {
        if metered {
            self.query_metered(pipe).await
        } else {
            self.query(pipe).await
        }
    }

    /// Adds the [`AUTH_COMMANDS`] commands that read user `id`'s auth record.
    pub(super) fn auth_commands(&self, pipe: &mut redis::Pipeline, id: UserId) {
        let id = id.get();
        pipe.cmd("HMGET")
            .arg(self.keys.row(RowType::User, id))
            .arg(&["pw", "role", "active"])
            .cmd("GET")
            .arg(self.keys.user_cv(id))
            .cmd("SMEMBERS")
            .arg(self.keys.user_groups(id))
            .cmd("SMEMBERS")
            .arg(self.keys.user_admin_of(id));
    }

    /// User `id`'s credential version (`None`: the user does not exist, as
    /// its version goes with it) and `prefetch`'s data, in one round trip.
    /// The version is all a request about the user's own data needs once
    /// its password is known to be right: a change of password or role
    /// changes it too.
    pub async fn version_with<P: Prefetch>(
        &self,
        id: UserId,
        prefetch: &P,
        meter: Option<&Meter>,
    ) -> Result<(Option<u64>, P::Output, Option<Metered>), StoreError> {
        let (heads, data, metered) = self
            .heads_with(&[self.keys.user_cv(id.get())], prefetch, meter)
            .await?;
        let version = u64_of(&heads[0]).filter(|v| *v > 0);
        Ok((version, data, metered))
    }

    /// The string keys `heads` and `prefetch`'s data in one round trip,
    /// counting the request at `meter` when given: one `MGET` when the data
    /// is one key (Redis's cheapest round trip; in a pipeline behind the
    /// count when there is one), else a pipeline. Answers the heads' values
    /// in order, the data, and the count.
    pub(super) async fn heads_with<P: Prefetch>(
        &self,
        heads: &[String],
        prefetch: &P,
        meter: Option<&Meter>,
    ) -> Result<(Vec<Value>, P::Output, Option<Metered>), StoreError> {
        let single = prefetch.single_key(&self.keys);
        let mut replies: Vec<Value> = match (&single, meter) {
            (Some(key), None) => {
                self.query_one(redis::cmd("MGET").arg(heads).arg(key))
                    .await?
            }
            _ => {
                let mut pipe = redis::pipe();
                if let Some(m) = meter {
                    self.add_meter(&mut pipe, m);
                }
                match &single {
                    Some(key) => {
                        pipe.cmd("MGET").arg(heads).arg(key);
                    }
                    None => {
                        for head in heads {
                            pipe.cmd("GET").arg(head);
                        }
                        prefetch.commands(&self.keys, &mut pipe);
                    }
                }
                self.send(&pipe, meter.is_some()).await?
            }
        };
        let metered = take_meter(&mut replies, meter)?;
        if single.is_some() && meter.is_some() {
            // The MGET's own array.
            let mget = replies.pop().ok_or(StoreError::Malformed("head replies"))?;
            replies = array(mget).ok_or(StoreError::Malformed("head replies"))?;
        }
        if replies.len() < heads.len() {
            return Err(StoreError::Malformed("head replies"));
        }
        let data = replies.split_off(heads.len());
        Ok((replies, P::parse(data)?, metered))
    }

    /// User `id`'s auth record (when an id is given; `Some(None)`: no such
    /// user) and `prefetch`'s data, in one round trip. The data is read
    /// before the caller is known: the caller must check permissions
    /// before answering with it.
    pub async fn auth_with<P: Prefetch>(
        &self,
        id: Option<UserId>,
        prefetch: &P,
        meter: Option<&Meter>,
    ) -> Result<(Option<Option<AuthRecord>>, P::Output, Option<Metered>), StoreError> {
        let mut pipe = redis::pipe();
        if let Some(m) = meter {
            self.add_meter(&mut pipe, m);
        }
        if let Some(id) = id {
            self.auth_commands(&mut pipe, id);
        }
        prefetch.commands(&self.keys, &mut pipe);
        let mut replies = self.send(&pipe, meter.is_some()).await?;
        let metered = take_meter(&mut replies, meter)?;
        let record = match id {
            Some(id) => {
                let rest = replies.split_off(AUTH_COMMANDS.min(replies.len()));
                let auth = std::mem::replace(&mut replies, rest);
                Some(parse_auth(id, auth)?)
            }
            None => None,
        };
        Ok((record, P::parse(replies)?, metered))
    }
}

/// The count's reply, the first of a pipeline that holds one.
pub(super) fn take_meter(
    replies: &mut Vec<Value>,
    meter: Option<&Meter>,
) -> Result<Option<Metered>, StoreError> {
    let Some(meter) = meter else {
        return Ok(None);
    };
    if replies.is_empty() {
        return Err(StoreError::Malformed("rate count"));
    }
    parse_metered(replies.remove(0), meter).map(Some)
}

/// Reads the replies to [`Store::auth_commands`].
pub(super) fn parse_auth(
    id: UserId,
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
        id: id.get(),
        password_hash,
        role,
        // A row without its version (written by hand, say) is never
        // remembered as current.
        credential_version: u64_of(&version).unwrap_or(0),
        groups: ids(groups),
        admin_of: ids(admin_of),
        active: get(2).as_deref() != Some("0"),
    }))
}
