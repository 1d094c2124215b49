//! The write scripts of groups and memberships, one typed method each
//! (users' are in `user_writes.rs`, tasks' in `task_writes.rs`).
//!
//! Each method lays out its script's arguments (documented at the top of
//! each `lua/*.lua`) from typed values, and answers what the script
//! answered, or the [`Refusal`](super::Refusal) of the rule that refused.

use redis::Value;
use taskmaster_shared::domain::{Email, GroupId, UserId};
use taskmaster_shared::model::Group;

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
    pub(super) fn arg(self) -> String {
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

pub(super) fn opt<T: ToString>(v: Option<T>) -> String {
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
        self.create_group_keyed(name, admin, now, None).await
    }

    /// [`Store::create_group`] under an `Idempotency-Key` (its record and
    /// the request's digest).
    pub async fn create_group_keyed(
        &self,
        name: &str,
        admin: UserId,
        now: &str,
        idempotency: Option<&(String, String)>,
    ) -> Result<Written<GroupId>, StoreError> {
        let mut inv = self.create_call(&SCRIPTS.create_group, now, idempotency);
        inv.arg(Email::key_of(name)).arg(name).arg(admin.get());
        Ok(match self.write(&inv).await? {
            Ok(items) => Ok(GroupId(new_id(&items, "create_group reply")?)),
            Err(refused) => Err(refused),
        })
    }

    /// `unchanged_since`: for a conditional write, the `updated_at` the
    /// group must still have.
    pub async fn update_group(
        &self,
        id: GroupId,
        name: Option<&str>,
        admin: Option<UserId>,
        unchanged_since: Option<&str>,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.update_group, now);
        inv.arg(guarded(id.get(), unchanged_since))
            .arg(name.unwrap_or(""))
            .arg(name.map(Email::key_of).unwrap_or_default())
            .arg(opt(admin));
        Ok(self.write(&inv).await?.map(|_| ()))
    }

    /// Deletes a group and its tasks, and removes it from its members. A
    /// group with more than `DELETE_STEP` tasks goes in steps of that
    /// many (see `Store::delete_in_steps`): each step is atomic, the whole
    /// is not, so a delete cut short leaves the group with fewer tasks,
    /// and sending it again finishes it.
    pub async fn delete_group(
        &self,
        id: GroupId,
        unchanged_since: Option<&str>,
        now: &str,
    ) -> Result<Written<DeletedGroup>, StoreError> {
        let (items, stepped) = self
            .delete_in_steps(&SCRIPTS.delete_group, id.get(), unchanged_since, now)
            .await?;
        Ok(match items {
            Ok(items) => {
                let mut it = items.into_iter();
                let group = it
                    .next()
                    .and_then(|row| Group::from_fields(&fields(row)))
                    .ok_or(StoreError::Malformed("delete_group reply"))?;
                Ok(DeletedGroup {
                    group,
                    affected_users: it.next().as_ref().and_then(u64_of).unwrap_or(0),
                    deleted_tasks: stepped + it.next().as_ref().and_then(u64_of).unwrap_or(0),
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
    /// answers how many of the user's tasks moved or went. The membership
    /// goes at the first step; more than a step's tasks go in the next
    /// (see `leaving.rs`).
    pub async fn remove_member(
        &self,
        group: GroupId,
        user: UserId,
        by: Option<UserId>,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.remove_member, now);
        inv.arg(group.get()).arg(user.get()).arg(opt(by));
        Ok(match self.write(&inv).await? {
            Ok(items) => {
                let first = items.first().and_then(u64_of).unwrap_or(0);
                if !super::leaving::more(&items) {
                    return Ok(Ok(first));
                }
                Ok(first + self.finish_leave(user.get(), group.get(), now).await?)
            }
            Err(refused) => Err(refused),
        })
    }
}

/// The most tasks one step of deleting a user or a group deletes: a few
/// milliseconds of Redis.
const DELETE_STEP: u64 = 200;

impl Store {
    /// Runs a stepped delete (`lua/delete_user.lua`, `lua/delete_group.lua`)
    /// until its last step: the guard goes with the first step only (the
    /// delete was allowed there). Answers the last step's outcome and how
    /// many tasks the earlier steps deleted.
    pub(super) async fn delete_in_steps(
        &self,
        script: &redis::Script,
        id: u64,
        unchanged_since: Option<&str>,
        now: &str,
    ) -> Result<(Written<Vec<Value>>, u64), StoreError> {
        let (mut guard, mut stepped) = (unchanged_since, 0);
        loop {
            let mut inv = self.write_call(script, now);
            inv.arg(guarded(id, guard)).arg(DELETE_STEP);
            match self.write(&inv).await? {
                Ok(items) if super::leaving::more(&items) => {
                    guard = None;
                    stepped += DELETE_STEP;
                }
                last => return Ok((last, stepped)),
            }
        }
    }
}

/// A row's id as a write script takes it, with the `updated_at` a
/// conditional write saw (see `id_and_guard` in `lua/common.lua`).
pub(super) fn guarded(id: u64, unchanged_since: Option<&str>) -> String {
    match unchanged_since {
        // A stored time holds no space; one that did could not match.
        Some(at) if !at.is_empty() && !at.contains(char::is_whitespace) => format!("{id} {at}"),
        Some(_) => format!("{id} -"),
        None => id.to_string(),
    }
}
