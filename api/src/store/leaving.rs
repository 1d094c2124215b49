//! Writes that run in steps after their first: the tasks of a member
//! leaving a group (`P leaving`, `leave_step` in `lua/leave.lua`) and a
//! group-wide label rename (`lua/rename_label.lua`).
//!
//! Each step is atomic and short (at most 100 tasks, ~2.5 ms of Redis);
//! the whole is not. A
//! leave takes the membership at its first step, so its record in
//! `P leaving` lets any api finish what a stopped one left
//! ([`Store::resume_leaves`]); a rename cut short leaves some tasks
//! renamed, each whole, and sending it again finishes it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;
use taskmaster_shared::domain::{GroupId, Label, UserId};

use super::scripts::SCRIPTS;
use super::value::u64_of;
use super::writes::opt;
use super::{Store, StoreError, Written};

/// The most tasks one step of a rename changes: ~2.5 ms of Redis (a task
/// costs ~25 µs: 4,500 in one script took 110–120 ms).
const RENAME_STEP: u64 = 100;

/// True when a stepped write's answer (after `OK`) ends with `MORE`: a step
/// is left (the deletes of `writes.rs`, the leaves and renames here).
pub(super) fn more(items: &[Value]) -> bool {
    matches!(items.last(), Some(Value::BulkString(b)) if b == b"MORE")
}

impl Store {
    /// Runs the steps of `user` leaving `group` that its first step left
    /// (see `remove_member`, `update_user`) to the last. Answers how many
    /// tasks they moved or deleted.
    pub(super) async fn finish_leave(
        &self,
        user: u64,
        group: u64,
        now: &str,
    ) -> Result<u64, StoreError> {
        let mut moved = 0;
        loop {
            let mut inv = self.write_call(&SCRIPTS.leave_step, now);
            inv.arg(user).arg(group);
            match self.write(&inv).await? {
                Ok(items) => {
                    moved += items.first().and_then(u64_of).unwrap_or(0);
                    if !more(&items) {
                        return Ok(moved);
                    }
                }
                // leave_step refuses nothing but maintenance (an error).
                Err(_) => return Ok(moved),
            }
        }
    }

    /// Finishes every leave in `P leaving` whose last step is older than
    /// `idle` (an api stopped midway, or a restore recorded it): the
    /// request that removed a member steps faster than that. Answers how
    /// many it finished.
    pub async fn resume_leaves(&self, idle: Duration) -> Result<u64, StoreError> {
        let records: Vec<(String, String)> = self
            .query_one(redis::cmd("HGETALL").arg(self.keys.leaving()))
            .await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = crate::clock::now();
        let mut finished = 0;
        for (field, record) in records {
            let Some((user, group)) = field.split_once(':') else {
                continue;
            };
            let (Ok(user), Ok(group)) = (user.parse::<u64>(), group.parse::<u64>()) else {
                continue;
            };
            let last = record
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            if now.as_secs() < last.saturating_add(idle.as_secs()) {
                continue;
            }
            let moved = self.finish_leave(user, group, &stamp).await?;
            tracing::info!(user, group, moved, "a member's leave of a group finished");
            finished += 1;
        }
        Ok(finished)
    }

    /// Renames `from` to `to` on every task of the group, in steps of
    /// [`RENAME_STEP`] tasks. `by`: a group admin who must administer the
    /// group (`None`: the owner). Answers how many tasks carried `from`.
    pub async fn rename_label(
        &self,
        group: GroupId,
        by: Option<UserId>,
        from: &Label,
        to: &Label,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        let mut renamed = 0;
        loop {
            let mut inv = self.write_call(&SCRIPTS.rename_label, now);
            inv.arg(group.get())
                .arg(opt(by))
                .arg(from.as_str())
                .arg(to.as_str())
                .arg(RENAME_STEP);
            match self.write(&inv).await? {
                Ok(items) => {
                    renamed += items.first().and_then(u64_of).unwrap_or(0);
                    if !more(&items) {
                        return Ok(Ok(renamed));
                    }
                }
                Err(refused) => return Ok(Err(refused)),
            }
        }
    }
}
