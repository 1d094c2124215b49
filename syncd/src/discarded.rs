//! Saving the rows still pending in Redis (dirty or in flight) to a file
//! before a restore discards them (`discard_pending=true`), so that an
//! operator can still look at what was thrown away.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use redis::Value;
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::redis_pool::{self, RedisPool};

use crate::restore::{PIPELINE_ROWS, RestoreError};

/// Writes every pending row (dirty or in flight) as Redis holds it to a
/// gzip file of JSON lines `{"type","id","row"}` (`row` null for a
/// delete; a user's row is its stored fields, password hash included, its
/// groups and its personal API token records), with a `.sha256` beside it. Returns the file name and the
/// number of rows.
pub async fn save_pending(
    redis: &RedisPool,
    keys: &Keys,
    dir: &Path,
) -> Result<(String, u64), RestoreError> {
    let io = |e: std::io::Error| RestoreError::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = crate::backup::file_name("discarded", chrono::Utc::now())
        .replace(".backup.gz", ".jsonl.gz");
    let path = dir.join(&name);
    let file = std::fs::File::create(&path).map_err(io)?;
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::default());
    let mut conn = redis_pool::shared(redis)
        .await
        .map_err(|_| RestoreError::RedisPool)?;
    let mut count = 0u64;
    for t in RowType::ALL {
        let mut ids: Vec<u64> = redis::cmd("SUNION")
            .arg(keys.dirty(t))
            .arg(keys.inflight(t))
            .query_async(&mut conn)
            .await?;
        ids.sort_unstable();
        for chunk in ids.chunks(PIPELINE_ROWS) {
            let mut pipe = redis::pipe();
            for id in chunk {
                match t {
                    RowType::Task => {
                        pipe.cmd("GET").arg(keys.row(t, *id));
                    }
                    _ => {
                        pipe.cmd("HGETALL").arg(keys.row(t, *id));
                    }
                }
                if t == RowType::User {
                    pipe.cmd("SMEMBERS").arg(keys.user_groups(*id));
                    pipe.cmd("SORT")
                        .arg(keys.user_tokens(*id))
                        .arg("BY")
                        .arg("nosort")
                        .arg("GET")
                        .arg(keys.api_token_pattern());
                }
            }
            let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
            let mut it = replies.into_iter();
            for id in chunk {
                let row = match (t, it.next()) {
                    (RowType::Task, Some(Value::BulkString(raw))) => {
                        serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null)
                    }
                    (_, Some(Value::Array(items))) if !items.is_empty() => {
                        let mut object = serde_json::Map::new();
                        let mut fields = items.into_iter();
                        while let (Some(Value::BulkString(k)), Some(Value::BulkString(v))) =
                            (fields.next(), fields.next())
                        {
                            object.insert(
                                String::from_utf8_lossy(&k).into_owned(),
                                String::from_utf8_lossy(&v).into_owned().into(),
                            );
                        }
                        serde_json::Value::Object(object)
                    }
                    _ => serde_json::Value::Null,
                };
                let mut row = row;
                if t == RowType::User {
                    let groups: Vec<u64> = match it.next() {
                        Some(v) => redis::from_redis_value(v).unwrap_or_default(),
                        None => Vec::new(),
                    };
                    let tokens: Vec<String> = match it.next() {
                        Some(v) => redis::from_redis_value(v).unwrap_or_default(),
                        None => Vec::new(),
                    };
                    if let serde_json::Value::Object(object) = &mut row {
                        object.insert("groups".into(), groups.into());
                        object.insert("tokens".into(), tokens.into());
                    }
                }
                let line = serde_json::json!({"type": t.singular(), "id": id, "row": row});
                writeln!(gz, "{line}").map_err(io)?;
                count += 1;
            }
        }
    }
    let file = gz
        .finish()
        .map_err(io)?
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let sum = crate::backup::sha256_file(&path).map_err(|e| RestoreError::Io(e.to_string()))?;
    std::fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{sum}  {name}\n"),
    )
    .map_err(io)?;
    Ok((name, count))
}
