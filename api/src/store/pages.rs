//! Pages of task lists, read from the order indexes (`P user:{id}:order`,
//! `P group:{id}:order`; see `taskmaster_shared::order`), and the one-time
//! build of those indexes on data from before they existed.

use redis::Value;
use taskmaster_shared::domain::{GroupId, UserId};

use super::scripts::SCRIPTS;
use super::value::{array, u64_of};
use super::{Store, StoreError};

/// Whose order index a page is read from.
#[derive(Debug, Clone, Copy)]
pub enum OrderScope {
    User(UserId),
    Group(GroupId),
    /// Every task (`P tasks:order`): the owner's views.
    All,
}

/// One chunk to read from an order index. Bounds are `ZRANGE … BYLEX`'s
/// (`[m` inclusive, `(m` exclusive, `-`, `+`).
#[derive(Debug, Clone)]
pub struct PageRead {
    pub mode: ReadMode,
    /// `Lex`: where reading starts (the larger bound when `rev`); `Rank`:
    /// the low bound.
    pub a: String,
    /// `Lex`: where it stops; `Rank`: the high bound.
    pub b: String,
    pub rev: bool,
    /// Members skipped first.
    pub skip: u64,
    pub count: u64,
    /// The range whose size to answer too (low, high).
    pub count_range: Option<(String, String)>,
}

/// How [`PageRead`] finds its first member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// From a bound, skipping one by one.
    Lex,
    /// By position within the bounds: a deep skip costs O(log n).
    Rank,
}

/// A chunk read: the rows with their members in the order, and how many
/// members the range holds when it was asked.
#[derive(Debug, Default)]
pub struct PageChunk {
    pub total: Option<u64>,
    /// Each member with its stored row (`None`: the row is missing).
    pub items: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// How many tasks one step of the build indexes.
const BUILD_CHUNK: usize = 500;

impl Store {
    /// Reads one chunk of `scope`'s order index. `OrderBuilding` while the
    /// indexes are being built.
    pub async fn task_page(
        &self,
        scope: OrderScope,
        read: &PageRead,
    ) -> Result<PageChunk, StoreError> {
        let key = match scope {
            OrderScope::User(u) => self.keys.user_order(u.get()),
            OrderScope::Group(g) => self.keys.group_order(g.get()),
            OrderScope::All => self.keys.all_order(),
        };
        let mut inv = self.read_call(&SCRIPTS.task_page);
        inv.arg(key);
        inv.arg(match read.mode {
            ReadMode::Lex => "lex",
            ReadMode::Rank => "rank",
        })
        .arg(&read.a)
        .arg(&read.b)
        .arg(if read.rev { "1" } else { "" })
        .arg(read.skip)
        .arg(read.count);
        match &read.count_range {
            Some((low, high)) => inv.arg(low).arg(high),
            None => inv.arg("").arg(""),
        };
        let reply = array(self.eval(&inv).await?).ok_or(StoreError::Malformed("page reply"))?;
        let mut it = reply.into_iter();
        let total = match it.next() {
            Some(Value::Int(n)) => u64::try_from(n).ok(),
            Some(Value::BulkString(code)) if code == b"ERR" => {
                return Err(StoreError::OrderBuilding);
            }
            _ => return Err(StoreError::Malformed("page reply")),
        };
        let mut items = Vec::new();
        while let (Some(member), Some(row)) = (it.next(), it.next()) {
            let Value::BulkString(member) = member else {
                return Err(StoreError::Malformed("page member"));
            };
            let row = match row {
                Value::BulkString(raw) if super::is_object_text(&raw) => Some(raw),
                _ => None,
            };
            items.push((member, row));
        }
        Ok(PageChunk { total, items })
    }

    /// Puts every task into its user's and group's order index, unless
    /// that was done (`P meta:order`), in steps of 500 tasks, and then
    /// records it. Safe while writes go on: each write keeps the members
    /// of the tasks it touches. Returns how many tasks it indexed.
    pub async fn build_order_index(&self) -> Result<u64, StoreError> {
        let built: Value = self
            .query_one(redis::cmd("EXISTS").arg(self.keys.order_built()))
            .await?;
        if u64_of(&built) == Some(1) {
            return Ok(0);
        }
        let prefix = self.keys.row(taskmaster_shared::keys::RowType::Task, 0);
        let prefix = prefix.trim_end_matches('0').to_owned();
        let mut cursor: u64 = 0;
        let mut indexed = 0;
        loop {
            let (next, found): (u64, Vec<String>) = self
                .query_one(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(self.keys.task_row_pattern())
                        .arg("COUNT")
                        .arg(BUILD_CHUNK),
                )
                .await?;
            let ids: Vec<u64> = found
                .iter()
                .filter_map(|k| k.strip_prefix(&prefix)?.parse().ok())
                .collect();
            for chunk in ids.chunks(BUILD_CHUNK) {
                let mut inv = self.write_call(&SCRIPTS.order_backfill, "");
                inv.arg(chunk);
                indexed += u64_of(&self.eval(&inv).await?).unwrap_or(0);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.query_one::<()>(redis::cmd("SET").arg(self.keys.order_built()).arg(1))
            .await?;
        Ok(indexed)
    }
}
