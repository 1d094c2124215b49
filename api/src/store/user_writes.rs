//! The write scripts of users (create, update, delete), one typed method
//! each, like the rest in `writes.rs`.

use taskmaster_shared::domain::{Email, Role, UserId, WorkTimes};
use taskmaster_shared::model::User;

use super::reads::user_from;
use super::scripts::SCRIPTS;
use super::value::u64_of;
use super::writes::guarded;
use super::writes::new_id;
use super::{Store, StoreError, Written};

/// A user to create; its password already hashed.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub full_name: &'a str,
    pub role: Role,
    pub number: &'a str,
    pub password_hash: &'a str,
    pub work_times: &'a WorkTimes,
    pub groups: &'a [u64],
    /// Its `Idempotency-Key` record and the request's digest.
    pub idempotency: Option<(String, String)>,
}

impl NewUser<'_> {
    /// The user as answered, once its create gave it `id` at `now`.
    pub fn answered(&self, id: UserId, now: &str) -> User {
        User {
            id: id.get(),
            full_name: self.full_name.to_owned(),
            role: self.role,
            group_ids: self.groups.to_vec(),
            number: self.number.to_owned(),
            email: self.email.value.clone(),
            work_times: self.work_times.clone(),
            active: true,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            password_hash: String::new(),
        }
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges<'a> {
    /// Refuse (`Conflict`) unless the user still has this role: what a
    /// group admin's right to edit the user was judged on.
    pub expect_role: Option<Role>,
    pub email: Option<&'a Email>,
    pub role: Option<Role>,
    pub password_hash: Option<&'a str>,
    /// The login session making this change to its own user: a new
    /// password then leaves it open (every other session ends).
    pub keep_session: Option<&'a str>,
    /// Deactivate (`false`) or reactivate (`true`).
    pub active: Option<bool>,
    /// The complete new set of groups.
    pub groups: Option<&'a [u64]>,
    pub full_name: Option<&'a str>,
    pub number: Option<&'a str>,
    pub work_times: Option<&'a WorkTimes>,
    /// A conditional write (`If-Match`): the user's `updated_at` must
    /// still be this.
    pub unchanged_since: Option<&'a str>,
}

impl Store {
    pub async fn create_user(
        &self,
        new: &NewUser<'_>,
        now: &str,
    ) -> Result<Written<UserId>, StoreError> {
        let mut inv = self.create_call(&SCRIPTS.create_user, now, new.idempotency.as_ref());
        inv.arg(&new.email.key)
            .arg(new.full_name)
            .arg(&new.email.value)
            .arg(new.role.as_str())
            .arg(new.number)
            .arg(new.password_hash)
            .arg(new.work_times.to_stored())
            .arg(new.groups);
        Ok(match self.write(&inv).await? {
            Ok(items) => Ok(UserId(new_id(&items, "create_user reply")?)),
            Err(refused) => Err(refused),
        })
    }

    pub async fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges<'_>,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let c = changes;
        let mut inv = self.write_call(&SCRIPTS.update_user, now);
        inv.arg(guarded(id.get(), c.unchanged_since))
            .arg(c.expect_role.map(Role::as_str).unwrap_or(""))
            .arg(c.email.map(|e| e.value.as_str()).unwrap_or(""))
            .arg(c.email.map(|e| e.key.as_str()).unwrap_or(""))
            .arg(c.role.map(Role::as_str).unwrap_or(""))
            .arg(c.password_hash.unwrap_or(""))
            .arg(c.keep_session.unwrap_or(""))
            .arg(match c.active {
                None => "",
                Some(false) => "0",
                Some(true) => "1",
            })
            .arg(if c.groups.is_some() { "1" } else { "" })
            .arg(c.groups.map_or(0, <[u64]>::len))
            .arg(c.groups.unwrap_or(&[]));
        if let Some(n) = c.full_name {
            inv.arg("full_name").arg(n);
        }
        if let Some(n) = c.number {
            inv.arg("number").arg(n);
        }
        if let Some(w) = c.work_times {
            inv.arg("work_times").arg(w.to_stored());
        }
        let items = match self.write(&inv).await? {
            Ok(items) => items,
            Err(refused) => return Ok(Err(refused)),
        };
        // The groups it left whose tasks a first step did not all move.
        for group in items.iter().skip(1).filter_map(u64_of) {
            self.finish_leave(id.get(), group, now).await?;
        }
        Ok(Ok(()))
    }

    /// Deletes a user with its tasks and memberships; answers the user as
    /// it was. A user with many tasks goes in steps (see
    /// `Store::delete_in_steps`).
    /// `unchanged_since`: for a conditional delete, the `updated_at` the
    /// user must still have.
    pub async fn delete_user(
        &self,
        id: UserId,
        unchanged_since: Option<&str>,
        now: &str,
    ) -> Result<Written<User>, StoreError> {
        let (items, _) = self
            .delete_in_steps(&SCRIPTS.delete_user, id.get(), unchanged_since, now)
            .await?;
        Ok(match items {
            Ok(items) => {
                let mut it = items.into_iter();
                let user = match (it.next(), it.next()) {
                    (Some(row), Some(groups)) => user_from(row, groups),
                    _ => None,
                };
                Ok(user.ok_or(StoreError::Malformed("delete_user reply"))?)
            }
            Err(refused) => Err(refused),
        })
    }
}
