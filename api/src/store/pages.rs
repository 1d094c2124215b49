//! Pages of task lists, read from the order indexes (`P user:{id}:order`,
//! `P group:{id}:order:{p,d,u}`, …; see `taskmaster_shared::order`); an
//! index's build on the first read in its order; and the retirement of
//! the indexes of earlier layouts at the api's first start.

use redis::Value;
use taskmaster_shared::domain::{GroupId, UserId};
use taskmaster_shared::order::{self, SortKey};

use super::scripts::SCRIPTS;
use super::value::{array, u64_of};
use super::{Store, StoreError};

/// Whose order index a page is read from.
#[derive(Debug, Clone, Copy)]
pub enum OrderScope {
    User(UserId),
    Group(GroupId),
    /// Every task: the owner's views (no index: see `task_scan`).
    All,
}

/// One chunk to read from an order index. Bounds are `ZRANGE … BYLEX`'s
/// (`[m` inclusive, `(m` exclusive, `-`, `+`).
#[derive(Debug, Clone)]
pub struct PageRead {
    /// The order, hence the index (`…:order` for the id's, `…:order:{tag}`
    /// for another one).
    pub key: SortKey,
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

/// How many steps of an order's build (about 50 tasks each) a read runs
/// itself before it answers that the order is being built and leaves the
/// rest to a background task: a list of up to ~3,000 tasks is sorted on
/// its first read in that order, a larger one within seconds of it.
const INLINE_BUILD_STEPS: usize = 60;

impl OrderScope {
    /// Its index of `key`, and the hash that tells which orders it keeps.
    fn keys(self, store: &Store, key: SortKey) -> (String, String) {
        let k = &store.keys;
        let tag = char::from(key.tag());
        match (self, key) {
            (OrderScope::User(u), SortKey::Id) => (k.user_order(u.get()), k.user_sorts(u.get())),
            (OrderScope::User(u), _) => (k.user_sort(u.get(), tag), k.user_sorts(u.get())),
            (OrderScope::Group(g), SortKey::Id) => (k.group_order(g.get()), k.group_sorts(g.get())),
            (OrderScope::Group(g), _) => (k.group_sort(g.get(), tag), k.group_sorts(g.get())),
            // No index orders every task (see `rows`).
            (OrderScope::All, _) => (String::new(), String::new()),
        }
    }
}

impl Store {
    /// Reads one chunk of `scope`'s order index. An order a list was never
    /// read in is built first (see [`Store::build_sort`]); `OrderBuilding`
    /// while a large one is still being built, or the id indexes after an
    /// upgrade.
    pub async fn task_page(
        &self,
        scope: OrderScope,
        read: &PageRead,
    ) -> Result<PageChunk, StoreError> {
        match self.task_page_once(scope, read).await {
            Err(StoreError::SortBuilding) => {
                if self.build_sort(scope, read.key, INLINE_BUILD_STEPS).await? {
                    match self.task_page_once(scope, read).await {
                        // Its user or group was deleted meanwhile.
                        Err(StoreError::SortBuilding) => Ok(PageChunk::default()),
                        other => other,
                    }
                } else {
                    self.finish_sort_later(scope, read.key);
                    Err(StoreError::OrderBuilding)
                }
            }
            other => other,
        }
    }

    async fn task_page_once(
        &self,
        scope: OrderScope,
        read: &PageRead,
    ) -> Result<PageChunk, StoreError> {
        let (key, sorts) = scope.keys(self, read.key);
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
        inv.arg(char::from(read.key.tag()).to_string()).arg(sorts);
        let reply = array(self.eval(&inv).await?).ok_or(StoreError::Malformed("page reply"))?;
        let mut it = reply.into_iter();
        let total = match it.next() {
            Some(Value::Int(n)) => u64::try_from(n).ok(),
            Some(Value::BulkString(code)) if code == b"ERR" => {
                return Err(match it.next() {
                    Some(Value::BulkString(c)) if c == b"SORT_BUILDING" => StoreError::SortBuilding,
                    _ => StoreError::OrderBuilding,
                });
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

    /// Runs up to `steps` steps of building `scope`'s index in `key`'s
    /// order (`lua/sort_build.lua`); whether it is ready. Steps from any
    /// api go on from one another, and writes keep the index from the
    /// first step on.
    pub async fn build_sort(
        &self,
        scope: OrderScope,
        key: SortKey,
        steps: usize,
    ) -> Result<bool, StoreError> {
        let (kind, id) = match scope {
            OrderScope::User(u) => ("user", u.get()),
            OrderScope::Group(g) => ("group", g.get()),
            OrderScope::All => return Ok(key == SortKey::Id),
        };
        for _ in 0..steps {
            let mut inv = self.write_call(&SCRIPTS.sort_build, "");
            inv.arg(kind).arg(id).arg(char::from(key.tag()).to_string());
            let reply = self
                .write(&inv)
                .await?
                .map_err(|_| StoreError::Malformed("sort build reply"))?;
            match reply.first().and_then(super::value::string).as_deref() {
                // A user or group deleted meanwhile: its list is empty.
                Some("ready" | "gone") => return Ok(true),
                Some(_) => {}
                None => return Err(StoreError::Malformed("sort build reply")),
            }
        }
        Ok(false)
    }
    /// Finishes building `scope`'s index in `key`'s order in the
    /// background, unless this process does so already. Should this
    /// process die, the next read in that order goes on from where it
    /// stopped.
    fn finish_sort_later(&self, scope: OrderScope, key: SortKey) {
        let name = format!("{scope:?} {key:?}");
        {
            let mut building = self.building.lock().unwrap_or_else(|e| e.into_inner());
            if !building.insert(name.clone()) {
                return;
            }
        }
        let store = self.clone();
        tokio::spawn(async move {
            let mut failures = 0;
            loop {
                match store.build_sort(scope, key, 200).await {
                    Ok(true) => break,
                    Ok(false) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, scope = ?scope, key = key.name(), "sort index build paused");
                        if failures == 5 {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(200 << failures)).await;
                    }
                }
            }
            store
                .building
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&name);
        });
    }

    /// Retires the order indexes of the earlier layouts, which every
    /// write kept for every user and group (`P user:{id}:order` with every
    /// order's members, then with the id's; `P tasks:order`), unless that
    /// was done (`P meta:order` is [`order::LAYOUT`]), then records it: a
    /// scan of the keyspace, 500 keys a step, each index unlinked unless
    /// a build since the upgrade made it (`lua/order_retire.lua`). Lists
    /// are served meanwhile: a read builds what it needs. Returns how many
    /// it unlinked.
    pub async fn build_order_index(&self) -> Result<u64, StoreError> {
        let layout: Option<String> = self
            .query_one(redis::cmd("GET").arg(self.keys.order_built()))
            .await?;
        if layout.as_deref() == Some(order::LAYOUT) {
            return Ok(0);
        }
        let pattern = format!("{}*:order", self.keys.prefix());
        let mut cursor: u64 = 0;
        let mut retired = 0;
        loop {
            let (next, found): (u64, Vec<String>) = self
                .query_one(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(BUILD_CHUNK),
                )
                .await?;
            if !found.is_empty() {
                let mut inv = self.read_call(&SCRIPTS.order_retire);
                inv.arg(&found);
                retired += u64_of(&self.eval(&inv).await?).unwrap_or(0);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.query_one::<()>(
            redis::cmd("SET")
                .arg(self.keys.order_built())
                .arg(order::LAYOUT),
        )
        .await?;
        Ok(retired)
    }
}
