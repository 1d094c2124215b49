//! The audit log's reads from Redis: the change log entries its consumer
//! group has not acknowledged yet (`lua/audit_tail.lua`), which
//! PostgreSQL may not hold; the rest comes from syncd (see
//! `crate::audit`).

use taskmaster_shared::audit::Query;
use taskmaster_shared::position::Position;

use super::changes::{entries, position};
use super::scripts::SCRIPTS;
use super::value::{array, string};
use super::{RawEntry, Store, StoreError};

/// Entries one read looks at, at most: a read stays short even when the
/// backlog is long (PostgreSQL down for hours); the caller continues from
/// where it stopped.
const BUDGET: usize = 20_000;

/// What the stream said.
#[derive(Debug, Default)]
pub struct AuditTail {
    /// PostgreSQL holds every entry below this position.
    pub boundary: Position,
    /// Entries passing the query, newest first.
    pub matches: Vec<RawEntry>,
    /// The last entry looked at.
    pub last: Option<Position>,
    /// Whether the read went down to the boundary (or the query's floor):
    /// otherwise it stopped at `last`, at the query's limit or the budget.
    pub reached: bool,
}

impl Store {
    /// Reads the unacknowledged entries passing `query` (its filters,
    /// `before` and `since`; `until` is the caller's), newest first, up to
    /// `limit` of them.
    pub async fn audit_tail(&self, query: &Query, limit: usize) -> Result<AuditTail, StoreError> {
        let bad = || StoreError::Malformed("audit_tail");
        let mut inv = self.read_call(&SCRIPTS.audit_tail);
        inv.arg(
            query
                .before
                .map_or_else(|| "+".to_owned(), |p| p.to_string()),
        )
        .arg(query.since.unwrap_or(Position::ORIGIN).to_string())
        .arg(query.actor.as_deref().unwrap_or(""))
        .arg(query.entity.as_deref().unwrap_or(""))
        .arg(query.entity_id.as_deref().unwrap_or(""))
        .arg(limit.max(1))
        .arg(BUDGET);
        let mut parts = array(self.eval(&inv).await?).ok_or_else(bad)?.into_iter();
        let (Some(boundary), Some(matches), Some(last), Some(reached)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(AuditTail {
            boundary: position(&boundary).ok_or_else(bad)?,
            matches: entries(matches)?,
            last: position(&last),
            reached: string(&reached).as_deref() == Some("1"),
        })
    }
}
