//! Tasks written straight into Redis by the hundred thousand, for the
//! tests and benchmarks of lists at scale (`tests/it/scale.rs`,
//! `deploy/bench.sh`): a million creates through the api would take
//! minutes and leave a change log of a million entries besides.

use redis::aio::MultiplexedConnection;
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::model::Task;
use taskmaster_shared::order;

/// Writes `n` tasks of `user` in `group` as the write scripts lay them out
/// (rows, sets, the order indexes from `taskmaster_shared::order`), a
/// thousand per pipeline, and returns the first one's id. Deadlines,
/// priorities and update times vary with the id.
pub async fn seed_tasks(
    redis: &mut MultiplexedConnection,
    keys: &Keys,
    user: u64,
    group: u64,
    n: u64,
) -> u64 {
    let first: u64 = redis::cmd("INCRBY")
        .arg(keys.sequence(RowType::Task))
        .arg(n)
        .query_async::<u64>(redis)
        .await
        .expect("ids")
        - n
        + 1;
    let mut made = 0;
    while made < n {
        let batch = (n - made).min(1000);
        let mut rows = redis::cmd("MSET");
        let mut user_set = redis::cmd("SADD");
        user_set.arg(keys.user_tasks(user));
        let mut group_set = redis::cmd("SADD");
        group_set.arg(keys.group_tasks(group));
        let mut user_order = redis::cmd("ZADD");
        user_order.arg(keys.user_order(user));
        let mut group_order = redis::cmd("ZADD");
        group_order.arg(keys.group_order(group));
        let mut all_order = redis::cmd("ZADD");
        all_order.arg(keys.all_order());
        for i in 0..batch {
            let id = first + made + i;
            let day = 1 + id % 28;
            let json = format!(
                r#"{{"id":{id},"title":"task {id}","status":false,"priority":{},"deadline":"2027-01-{day:02}","information":"seeded","user_id":{user},"group_id":{group},"created_at":"2026-12-05T10:00:00Z","updated_at":"2026-12-05T10:00:00.{:06}Z","state":"todo","created_by":null,"labels":[],"completed_at":null}}"#,
                id % 3 + 1,
                id % 1_000_000
            );
            let task = Task::from_json(json.as_bytes()).expect("a task");
            let members = order::members(&task);
            rows.arg(keys.row(RowType::Task, id)).arg(json);
            user_set.arg(id);
            group_set.arg(id);
            for m in &members {
                user_order.arg(0).arg(m);
                group_order.arg(0).arg(m);
            }
            all_order.arg(0).arg(&members[0]);
        }
        let mut pipe = redis::pipe();
        for cmd in [
            rows,
            user_set,
            group_set,
            user_order,
            group_order,
            all_order,
        ] {
            pipe.add_command(cmd).ignore();
        }
        pipe.query_async::<()>(redis).await.expect("seeded");
        made += batch;
    }
    // Every task is in the order indexes, as the api's first start would
    // have made sure (see `P meta:order`).
    redis::cmd("SET")
        .arg(keys.order_built())
        .arg(1)
        .query_async::<()>(redis)
        .await
        .expect("marked");
    first
}
