//! Tasks written straight into Redis by the hundred thousand, for the
//! tests and benchmarks of lists at scale (`tests/it/scale.rs`,
//! `deploy/bench.sh`): a million creates through the api would take
//! minutes and leave a change log of a million entries besides.

use redis::aio::MultiplexedConnection;
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::model::Task;
use taskmaster_shared::order::{self, SortKey};

/// Writes `n` tasks of `user` in `group` as the write scripts lay them out
/// (rows, sets, the id indexes from `taskmaster_shared::order`, kept), a
/// thousand per pipeline, and returns the first one's id. Deadlines,
/// priorities and update times vary with the id.
pub async fn seed_tasks(
    redis: &mut MultiplexedConnection,
    keys: &Keys,
    user: u64,
    group: u64,
    n: u64,
) -> u64 {
    seed_labelled_tasks(redis, keys, user, group, n, None).await
}

/// [`seed_tasks`], each task carrying `label` when there is one (in the
/// group's label index too).
pub async fn seed_labelled_tasks(
    redis: &mut MultiplexedConnection,
    keys: &Keys,
    user: u64,
    group: u64,
    n: u64,
    label: Option<&str>,
) -> u64 {
    let labels = label.map_or_else(|| "[]".to_owned(), |l| serde_json::json!([l]).to_string());
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
        for i in 0..batch {
            let id = first + made + i;
            let day = 1 + id % 28;
            let json = format!(
                r#"{{"id":{id},"title":"task {id}","status":false,"priority":{},"deadline":"2027-01-{day:02}","information":"seeded","user_id":{user},"group_id":{group},"created_at":"2026-12-05T10:00:00Z","updated_at":"2026-12-05T10:00:00.{:06}Z","state":"todo","created_by":null,"labels":{labels},"completed_at":null}}"#,
                id % 3 + 1,
                id % 1_000_000
            );
            let task = Task::from_json(json.as_bytes()).expect("a task");
            let by_id = order::member(SortKey::Id, &task);
            rows.arg(keys.row(RowType::Task, id)).arg(json);
            user_set.arg(id);
            group_set.arg(id);
            user_order.arg(0).arg(&by_id);
            group_order.arg(0).arg(&by_id);
        }
        let mut pipe = redis::pipe();
        if let Some(label) = label {
            let mut labelled = redis::cmd("SADD");
            labelled.arg(keys.group_label(group, label));
            labelled.arg((first + made..first + made + batch).collect::<Vec<u64>>());
            pipe.add_command(labelled).ignore();
            pipe.cmd("HINCRBY")
                .arg(keys.group_labels(group))
                .arg(label)
                .arg(batch)
                .ignore();
        }
        for cmd in [rows, user_set, group_set, user_order, group_order] {
            pipe.add_command(cmd).ignore();
        }
        pipe.query_async::<()>(redis).await.expect("seeded");
        made += batch;
    }
    // The user's and the group's lists by id are kept, as if they had
    // been read once (other orders are built when first read; see
    // `taskmaster_shared::order`), and the layout is the current one.
    for sorts in [keys.user_sorts(user), keys.group_sorts(group)] {
        redis::cmd("HSET")
            .arg(sorts)
            .arg("i")
            .arg("ready")
            .query_async::<()>(redis)
            .await
            .expect("marked");
    }
    redis::cmd("SET")
        .arg(keys.order_built())
        .arg(order::LAYOUT)
        .query_async::<()>(redis)
        .await
        .expect("marked");
    first
}
