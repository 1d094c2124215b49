//! Redis writes fenced by the lease: a batch of commands that runs only
//! while its daemon still holds `P syncd:lease`, checked in the same
//! atomic step (`lua/fenced_batch.lua`).
//!
//! A rebuild (`restore.rs`) takes many steps: it clears the keyspace, then
//! loads PostgreSQL's rows a pipeline at a time. A daemon paused past its
//! lease (SIGSTOP, a long stall) in the middle of one used to go on where
//! it stopped when it resumed, writing the rest of its copy of PostgreSQL,
//! older by then, over the keyspace the new holder had rebuilt and the api
//! had written to since: rows deleted since came back, not marked dirty,
//! and a membership in such a group failed its foreign key on every flush
//! (the fault run's open finding 7). Each step now checks the lease
//! itself, like the flush's hand-off and clear.

use redis::{Arg, Pipeline, Value};

use crate::flush::Holder;

static BATCH: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("lua/fenced_batch.lua")));

/// Whom a batch runs for: a lease holder, or nobody (a tool or test
/// running alone: no check).
#[derive(Debug, Clone, Copy)]
pub struct Fence<'a> {
    holder: Option<&'a Holder>,
}

impl<'a> Fence<'a> {
    pub fn new(holder: Option<&'a Holder>) -> Fence<'a> {
        Fence { holder }
    }

    /// Runs the commands of `pipe` as one step, or none of them when the
    /// lease is no longer this daemon's (an error whose code is
    /// `LEASE_LOST`). Replies are dropped.
    pub async fn run(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        prefix: &str,
        pipe: &Pipeline,
    ) -> Result<(), redis::RedisError> {
        let mut inv = BATCH.prepare_invoke();
        inv.arg(prefix).arg(self.lease());
        for cmd in pipe.cmd_iter() {
            let args: Vec<&[u8]> = cmd
                .args_iter()
                .filter_map(|a| match a {
                    Arg::Simple(bytes) => Some(bytes),
                    // No rebuild command takes a cursor.
                    _ => None,
                })
                .collect();
            inv.arg(args.len());
            for a in args {
                inv.arg(a);
            }
        }
        let _: Value = inv.invoke_async(conn).await?;
        Ok(())
    }

    /// Whether the lease is still this daemon's (an empty step).
    pub async fn check(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        prefix: &str,
    ) -> Result<(), redis::RedisError> {
        self.run(conn, prefix, &redis::pipe()).await
    }

    fn lease(&self) -> String {
        self.holder.map(Holder::lease_value).unwrap_or_default()
    }
}

/// Whether `e` is a fenced step refused because the lease moved on.
pub fn lease_lost(e: &redis::RedisError) -> bool {
    e.code() == Some("LEASE_LOST")
}
