//! Checking Redis against PostgreSQL after Redis restarted.
//!
//! Redis fsyncs its append-only file once a second, so a Redis that
//! restarts after a crash of its host may have lost its last second,
//! while PostgreSQL already holds rows a flush took from it. Then:
//!
//! * its id counters may be lower than ids PostgreSQL holds, and handing
//!   those out again would make the next flush's upserts overwrite
//!   unrelated rows;
//! * rows, changes and deletes that reached PostgreSQL may be missing from
//!   Redis.
//!
//! So whenever the active syncd sees a Redis server it has not checked
//! (its run id differs from `P meta:ids_run`: at start, and after every
//! restart or failover) it first raises the counters to at least the
//! highest ids PostgreSQL knows (`sync_state.last_*_id` and the rows'),
//! then, if Redis lost the effects of a committed flush (`P meta:flushes`
//! below `sync_state.flushes`) or holds a maintenance flag (a restore
//! whose end the crash took, or that Redis's death failed: no running
//! restore's, since a restore checks the server before it raises its
//! flag), rebuilds Redis from PostgreSQL: under the
//! maintenance flag it writes behind first the rows still pending in Redis
//! that are newer than PostgreSQL's ([`Behind`]), then loads what
//! PostgreSQL holds, exactly as a restore does. Last it records the run
//! id, which lets the api's create scripts hand out ids again (they refuse
//! while `P meta:ids_run` names another server, see
//! `api/src/store/lua/common.lua`).
//!
//! Which pending rows are newer follows from the append-only file being a
//! prefix of what happened, and from the hand-off's number, which the
//! flush records in PostgreSQL (`sync_state.last_handoff`) and Redis keeps
//! in flight (`P inflight:handoff`) until the clear:
//!
//! * the committed flush's hand-off is still in flight (its clear was
//!   lost): the in-flight rows are what it wrote, read after the hand-off,
//!   so PostgreSQL's copies are at least as new; only the dirty rows,
//!   written after the hand-off, go behind;
//! * Redis's last hand-off is older (the hand-off itself was lost): every
//!   write Redis kept came before it, so the flush wrote every pending row
//!   as new or newer, and none goes behind;
//! * otherwise (a later hand-off is in flight, or PostgreSQL predates the
//!   number), every pending row goes behind, as before.
//!
//! Writing PostgreSQL's newer rows over with Redis's older ones lost
//! acknowledged writes and brought deleted rows back (the fault run, seed
//! 1 under `everysec`), and could wedge the rebuild on a foreign key for
//! good (seed 7): a task written behind whose user PostgreSQL had deleted.
//! Should the rows going behind still break a constraint, the rebuild
//! keeps PostgreSQL's rows rather than stop the api for ever.
//!
//! When Redis shows it lost something (a counter below what PostgreSQL
//! recorded, or a lost flush), and after every restart of a server checked
//! before (a crash under `everysec` loses the last second with no sign
//! when no flush fell in it; a server without `P meta:ids_run` counts as
//! one once PostgreSQL's `sync_state.checks` says a server was checked:
//! the crash took the marker too), the counters also skip [`ID_GAP`] ids ahead,
//! as PostgreSQL's own sequences skip ahead after a crash: the writes of
//! the lost second that never reached PostgreSQL were answered with ids
//! too, and a client holding one must not find another row under it. The
//! task ids skipped are recorded in `P meta:id_gaps` in the same step, so
//! the owner's views, which read every task by id, step over them.

use redis::Value;
use taskmaster_shared::keys::RowType;
use taskmaster_shared::redis_pool;

use crate::Syncd;
use crate::fence::Fence;
use crate::flush::{self, FlushError, Holder};
use crate::pg::PgError;
use crate::restore::{self, Loaded, RestoreError};

/// How far the counters skip ahead after Redis lost writes: more ids than
/// the api hands out in a second, so no id answered in the lost second is
/// handed out again.
pub const ID_GAP: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("timed out waiting for a redis connection")]
    RedisPool,
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error("writing the pending rows behind first: {0}")]
    Flush(#[from] FlushError),
    #[error("rebuilding from PostgreSQL: {0}")]
    Restore(#[from] RestoreError),
}

/// What a check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// This Redis server was checked before.
    Known,
    /// A new server, in step with PostgreSQL: counters raised.
    Checked { raised_to: [u64; 4] },
    /// A new server that lost the effects of a flush: rebuilt.
    Rebuilt { raised_to: [u64; 4], loaded: Loaded },
}

/// What PostgreSQL knows: the highest ids ever handed out (per type), the
/// committed flushes, and the last of them's hand-off number.
struct Durable {
    last_ids: [u64; 4],
    flushes: u64,
    last_handoff: u64,
    /// Redis servers checked so far (`sync_state.checks`).
    checks: u64,
}

/// Which of the rows still pending in Redis a rebuild writes behind
/// before it loads PostgreSQL's (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    All,
    DirtyOnly,
    Nothing,
}

impl Behind {
    /// From Redis's last hand-off number (`P meta:handoffs`), the one in
    /// flight (`P inflight:handoff`) and PostgreSQL's last committed one.
    pub fn decide(handoffs: u64, in_flight: Option<u64>, last_handoff: u64) -> Behind {
        if last_handoff == 0 {
            Behind::All
        } else if in_flight == Some(last_handoff) {
            Behind::DirtyOnly
        } else if handoffs < last_handoff {
            Behind::Nothing
        } else {
            Behind::All
        }
    }
}

/// Checks the Redis server it is connected to, once per server (see the
/// module docs). `holder`: the lease the rows still pending are written
/// behind under, when a rebuild is needed.
pub async fn reconcile(
    syncd: &Syncd,
    holder: Option<&Holder>,
) -> Result<Reconciled, ReconcileError> {
    let keys = &syncd.keys;
    let mut conn = redis_conn(syncd).await?;
    let mut pipe = redis::pipe();
    pipe.cmd("INFO")
        .arg("server")
        .cmd("GET")
        .arg(keys.ids_run())
        .cmd("GET")
        .arg(keys.flushes())
        .cmd("EXISTS")
        .arg(keys.maintenance())
        .cmd("MGET");
    for t in RowType::ALL {
        pipe.arg(keys.sequence(t));
    }
    #[allow(clippy::type_complexity)]
    let (info, checked, seen, flagged, counters): (
        String,
        Option<String>,
        Option<u64>,
        bool,
        Vec<Option<u64>>,
    ) = pipe.query_async(&mut conn).await?;
    let run_id = run_id(&info).unwrap_or_default().to_owned();
    if checked.as_deref() == Some(run_id.as_str()) {
        return Ok(Reconciled::Known);
    }
    drop(conn);
    let durable = durable(syncd).await?;
    let counters: Vec<u64> = counters
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let lost_flush = durable.flushes > seen.unwrap_or(0);
    let lost_ids = counters
        .iter()
        .zip(durable.last_ids)
        .any(|(have, known)| *have < known);
    // A server that was checked before and has a new run id restarted. If
    // its host crashed under `appendfsync everysec`, it lost its last
    // second with no sign at all when no flush fell in that second (the
    // common case: flushes are minutes apart), and the ids it had handed
    // out would be handed out again (the fault run found a task id
    // answered to two creates). So every restart skips ahead.
    // So is a server without the marker once PostgreSQL counts a check:
    // the marker was lost with the data (a crash in the second after the
    // check; the fault run, seed 1683, saw 23 ids answered twice).
    let restarted = checked.is_some() || durable.checks > 0;
    let mut raised_to = durable.last_ids;
    let skip = lost_flush || lost_ids || restarted;
    if skip {
        for (to, have) in raised_to.iter_mut().zip(&counters) {
            *to = (*to).max(*have) + ID_GAP;
        }
        tracing::warn!(
            counters = ?counters,
            postgres_knows = ?durable.last_ids,
            raised_to = ?raised_to,
            lost_flush,
            lost_ids,
            "redis restarted and may have lost its last writes: the id counters skip ahead"
        );
        skip_ids(syncd, raised_to).await?;
    } else {
        raise_counters(syncd, raised_to).await?;
    }
    // A maintenance flag on a server not checked yet belongs to no running
    // restore (a restore checks the server before it sets its flag): it
    // is one whose end the crash took (under `everysec`, the flag's DEL in
    // the lost second, and perhaps the last of what it loaded), or one
    // that Redis's death failed. Either way the keyspace may be half
    // built, and the flag would keep the api in 503 for good (the fault
    // run, seed 15399): rebuilt from PostgreSQL, as the restore would have.
    let outcome = if lost_flush || flagged {
        tracing::warn!(
            postgres_flushes = durable.flushes,
            redis_flushes = seen.unwrap_or(0),
            maintenance_flag = flagged,
            "redis lost the effects of a flush PostgreSQL holds, or restarted in the middle of a restore; rebuilding it from PostgreSQL"
        );
        let loaded = rebuild(syncd, holder, durable.last_handoff).await?;
        Reconciled::Rebuilt { raised_to, loaded }
    } else {
        Reconciled::Checked { raised_to }
    };
    // Counted durably before the marker lets creates through, with the
    // counters as raised: a crash that takes the skip with the last second
    // (and the creates answered from it) must not let the next check skip
    // to the same place (the fault run, seed 17402, two crashes 1.5 s
    // apart: two task ids answered twice).
    let [u, g, t, w] = raised_to.map(|n| n as i64);
    syncd
        .pg
        .run(move |client| {
            client.execute(
                "UPDATE sync_state SET checks = checks + 1,
                     last_user_id = GREATEST(last_user_id, $1),
                     last_group_id = GREATEST(last_group_id, $2),
                     last_task_id = GREATEST(last_task_id, $3),
                     last_webhook_id = GREATEST(last_webhook_id, $4)
                 WHERE id = 1",
                &[&u, &g, &t, &w],
            )?;
            Ok(())
        })
        .await?;
    let mut conn = redis_conn(syncd).await?;
    let _: () = redis::cmd("SET")
        .arg(keys.ids_run())
        .arg(&run_id)
        .query_async(&mut conn)
        .await?;
    Ok(outcome)
}

async fn redis_conn(syncd: &Syncd) -> Result<redis_pool::Conn, ReconcileError> {
    redis_pool::shared(&syncd.redis)
        .await
        .map_err(|_| ReconcileError::RedisPool)
}

/// The `run_id` line of `INFO server`.
fn run_id(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .map(str::trim)
}

async fn durable(syncd: &Syncd) -> Result<Durable, PgError> {
    syncd
        .pg
        .run(|client| {
            let row = client.query_one(
                "SELECT GREATEST(s.last_user_id, (SELECT coalesce(max(id), 0) FROM users)),
                        GREATEST(s.last_group_id, (SELECT coalesce(max(id), 0) FROM groups)),
                        GREATEST(s.last_task_id, (SELECT coalesce(max(id), 0) FROM tasks)),
                        GREATEST(s.last_webhook_id, (SELECT coalesce(max(id), 0) FROM webhooks)),
                        s.flushes, s.last_handoff, s.checks
                 FROM sync_state s WHERE s.id = 1",
                &[],
            )?;
            let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
            Ok(Durable {
                last_ids: [n(0), n(1), n(2), n(3)],
                flushes: n(4),
                last_handoff: n(5),
                checks: n(6),
            })
        })
        .await
}

/// Raises each `seq:*` counter to at least `to` (never lowers one).
async fn raise_counters(syncd: &Syncd, to: [u64; 4]) -> Result<(), ReconcileError> {
    let mut conn = redis_conn(syncd).await?;
    let mut inv = restore::RAISE_COUNTER.prepare_invoke();
    for (t, _) in RowType::ALL.into_iter().zip(to) {
        inv.key(syncd.keys.sequence(t));
    }
    for n in to {
        inv.arg(n);
    }
    let _: Value = inv.invoke_async(&mut conn).await?;
    Ok(())
}

static SKIP_IDS: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("lua/skip_ids.lua")));

/// Raises the counters to `to`, recording the task ids skipped.
async fn skip_ids(syncd: &Syncd, to: [u64; 4]) -> Result<(), ReconcileError> {
    let mut conn = redis_conn(syncd).await?;
    let mut inv = SKIP_IDS.prepare_invoke();
    for t in RowType::ALL {
        inv.key(syncd.keys.sequence(t));
    }
    inv.key(syncd.keys.task_id_gaps());
    for n in to {
        inv.arg(n);
    }
    inv.arg(ID_GAP);
    let _: Value = inv.invoke_async(&mut conn).await?;
    Ok(())
}

/// Writes the pending rows that are newer than PostgreSQL's behind, then
/// replaces Redis's rows with PostgreSQL's, all under the maintenance flag
/// (no api write meanwhile).
async fn rebuild(
    syncd: &Syncd,
    holder: Option<&Holder>,
    last_handoff: u64,
) -> Result<Loaded, ReconcileError> {
    let flag = syncd
        .store
        .set_maintenance("reconcile after a redis restart")
        .await?;
    let result = async {
        write_behind(syncd, holder, last_handoff).await?;
        // The wipe takes the pending sets too: PostgreSQL now holds all.
        let loaded =
            restore::rebuild(&syncd.redis, &syncd.keys, &syncd.pg, Fence::new(holder)).await?;
        let durable = durable(syncd).await?;
        let mut conn = redis_conn(syncd).await?;
        let _: () = redis::cmd("SET")
            .arg(syncd.keys.flushes())
            .arg(durable.flushes)
            .query_async(&mut conn)
            .await?;
        // Hand-off numbers only grow, as PostgreSQL saw them.
        let _: Value = restore::RAISE_COUNTER
            .key(syncd.keys.handoffs())
            .arg(durable.last_handoff)
            .invoke_async(&mut conn)
            .await?;
        Ok::<_, ReconcileError>(loaded)
    }
    .await;
    syncd.store.clear_maintenance(&flag).await?;
    result
}

/// Writes behind what [`Behind::decide`] says is newer in Redis.
async fn write_behind(
    syncd: &Syncd,
    holder: Option<&Holder>,
    last_handoff: u64,
) -> Result<(), ReconcileError> {
    let keys = &syncd.keys;
    let mut conn = redis_conn(syncd).await?;
    let (handoffs, in_flight): (Option<u64>, Option<u64>) = redis::pipe()
        .cmd("GET")
        .arg(keys.handoffs())
        .cmd("GET")
        .arg(keys.inflight_handoff())
        .query_async(&mut conn)
        .await?;
    let behind = Behind::decide(handoffs.unwrap_or(0), in_flight, last_handoff);
    tracing::warn!(
        ?behind,
        redis_handoffs = handoffs.unwrap_or(0),
        in_flight = ?in_flight,
        postgres_last_handoff = last_handoff,
        "pending rows newer than PostgreSQL's go behind before the rebuild"
    );
    match behind {
        Behind::Nothing => return Ok(()),
        Behind::DirtyOnly => {
            let mut del = redis::cmd("DEL");
            for t in RowType::ALL {
                del.arg(keys.inflight(t));
            }
            del.arg(keys.inflight_since()).arg(keys.inflight_handoff());
            let _: () = del.query_async(&mut conn).await?;
        }
        Behind::All => {}
    }
    drop(conn);
    let flushed = flush::flush_once(
        &syncd.redis,
        keys,
        &syncd.pg,
        holder,
        syncd.config.sync_chunk_rows,
    )
    .await;
    match flushed {
        Ok(_) => Ok(()),
        Err(e) if breaks_a_constraint(&e) => {
            tracing::error!(
                error = %e,
                "the pending rows break a constraint of PostgreSQL's newer rows; keeping PostgreSQL's"
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// An integrity violation (SQLSTATE class 23): retrying cannot help.
fn breaks_a_constraint(e: &FlushError) -> bool {
    matches!(e, FlushError::Postgres(PgError::Query(q))
        if q.code().is_some_and(|c| c.code().starts_with("23")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_id_is_read_from_info_server() {
        let info = "# Server\r\nredis_version:7.0.15\r\nrun_id:3f2a9c\r\ntcp_port:6379\r\n";
        assert_eq!(run_id(info), Some("3f2a9c"));
        assert_eq!(run_id("# Server\r\n"), None);
    }

    #[test]
    fn what_goes_behind_follows_from_the_hand_off_numbers() {
        // (Redis's last, Redis's in flight, PostgreSQL's last) → behind
        let cases = [
            (0, None, 0, Behind::All),          // PostgreSQL before numbers
            (7, Some(7), 0, Behind::All),       // ditto, whatever Redis has
            (7, Some(7), 7, Behind::DirtyOnly), // the clear was lost
            (6, None, 7, Behind::Nothing),      // the hand-off was lost
            (6, Some(5), 7, Behind::Nothing),   // an older one still in flight
            (0, None, 7, Behind::Nothing),      // Redis lost everything
            (8, Some(8), 7, Behind::All),       // a later hand-off in flight
            (8, None, 7, Behind::All),          // a later one, cleared
        ];
        for (handoffs, in_flight, last, want) in cases {
            assert_eq!(
                Behind::decide(handoffs, in_flight, last),
                want,
                "{handoffs} {in_flight:?} {last}"
            );
        }
    }
}
