//! Consumer groups on the change log (`P changes`): the audit log and the
//! webhook deliveries each read it as a group of their own, with these.

use std::time::Duration;

use taskmaster_shared::keys::Keys;
use taskmaster_shared::position::Position;

/// How long one blocking read waits for new entries.
pub(crate) const BLOCK_MS: u64 = 1_000;
/// Entries one read takes at most (the audit log writes them in one
/// transaction).
const BATCH: usize = 5_000;

/// A connection for reading `stream` as consumer group `group`, made first
/// when missing; its answers may take a blocking read's time.
pub(crate) async fn group_connection(
    client: &redis::Client,
    stream: &str,
    group: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    // A blocking read must not be cut off as a slow answer.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(
        Duration::from_millis(BLOCK_MS) + Duration::from_secs(5),
    ));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    ensure_group(&mut conn, stream, group).await?;
    Ok(conn)
}

/// Creates consumer group `group` at the stream's start (so an upgrade
/// audits the history the stream still holds); an existing group is left
/// as it is.
async fn ensure_group(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    group: &str,
) -> redis::RedisResult<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

pub(crate) type Entry = (Position, Vec<(String, Vec<u8>)>);
/// An entry as `XREADGROUP` answers it: a pending entry trimmed since has
/// no fields.
type Delivered = (String, Option<Vec<(String, Vec<u8>)>>);

/// One read as the group: `from` is `0` (this consumer's pending entries)
/// or `>` (new ones; `block`: waiting a while for them).
pub(crate) async fn read(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    group: &str,
    from: &str,
    block: bool,
) -> redis::RedisResult<Vec<Entry>> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(group)
        .arg(Keys::AUDIT_CONSUMER)
        .arg("COUNT")
        .arg(BATCH);
    if block {
        cmd.arg("BLOCK").arg(BLOCK_MS);
    }
    let reply: Option<Vec<(String, Vec<Delivered>)>> = cmd
        .arg("STREAMS")
        .arg(stream)
        .arg(from)
        .query_async(conn)
        .await?;
    let mut out = Vec::new();
    for (_, entries) in reply.unwrap_or_default() {
        for (id, fields) in entries {
            // A pending entry removed from the stream has no fields: it can
            // only have been acknowledged elsewhere meanwhile.
            if let (Some(position), Some(fields)) = (Position::parse(&id), fields) {
                out.push((position, fields));
            }
        }
    }
    Ok(out)
}

pub(crate) async fn ack(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    group: &str,
    ids: &[String],
) -> redis::RedisResult<()> {
    redis::cmd("XACK")
        .arg(stream)
        .arg(group)
        .arg(ids)
        .query_async(conn)
        .await
}
