//! A group's labels: the label index read (`P group:{id}:labels`) and the
//! group-wide rename (`rename_label.lua`).

use taskmaster_shared::domain::{GroupId, Label, UserId};

use super::scripts::SCRIPTS;
use super::value::u64_of;
use super::writes::opt;
use super::{Store, StoreError, Written};

impl Store {
    /// Every label in use in the group with how many of its tasks carry
    /// it, in byte order.
    pub async fn group_labels(&self, group: GroupId) -> Result<Vec<(String, u64)>, StoreError> {
        let counts: Vec<(String, u64)> = self
            .query_one(redis::cmd("HGETALL").arg(self.keys.group_labels(group.get())))
            .await?;
        let mut counts: Vec<(String, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
        counts.sort_unstable();
        Ok(counts)
    }

    /// Renames `from` to `to` on every task of the group, in one step.
    /// `by`: a group admin who must administer the group (`None`: the
    /// owner). Answers how many tasks carried `from`.
    pub async fn rename_label(
        &self,
        group: GroupId,
        by: Option<UserId>,
        from: &Label,
        to: &Label,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.rename_label, now);
        inv.arg(group.get())
            .arg(opt(by))
            .arg(from.as_str())
            .arg(to.as_str());
        Ok(self
            .write(&inv)
            .await?
            .map(|items| items.first().and_then(u64_of).unwrap_or(0)))
    }
}
