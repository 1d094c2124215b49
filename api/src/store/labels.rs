//! A group's labels: the label index read (`P group:{id}:labels`) and the
//! group-wide rename (in `leaving.rs`, with the other stepped writes).

use taskmaster_shared::domain::GroupId;

use super::{Store, StoreError};

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
}
