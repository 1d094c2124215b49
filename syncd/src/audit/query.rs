//! Reading the audit log PostgreSQL holds, newest first, for the api's
//! `audit` control requests (see `shared/src/audit.rs`).

use chrono::{DateTime, Utc};
use postgres::Client;
use postgres::types::ToSql;
use taskmaster_shared::audit::{MAX_LIMIT, Page, Query, Record};
use taskmaster_shared::position::Position;

use super::write::COLUMNS;

/// One page: the records passing `query`, newest first, at most its
/// limit, and whether more follow.
pub fn page(client: &mut Client, query: &Query) -> Result<Page, postgres::Error> {
    let limit = i64::from(query.limit.clamp(1, MAX_LIMIT));
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    let param = |value: Box<dyn ToSql + Sync>, params: &mut Vec<Box<dyn ToSql + Sync>>| {
        params.push(value);
        format!("${}", params.len())
    };
    for (column, value) in [
        ("actor", &query.actor),
        ("entity", &query.entity),
        ("entity_id", &query.entity_id),
    ] {
        if let Some(v) = value {
            let p = param(Box::new(v.clone()), &mut params);
            conditions.push(format!("{column} = {p}"));
        }
    }
    let pair = |p: Position| {
        (
            i64::try_from(p.ms).unwrap_or(i64::MAX),
            i64::try_from(p.seq).unwrap_or(i64::MAX),
        )
    };
    for (op, bound) in [
        (">=", query.since),
        ("<=", query.until),
        ("<", query.before),
    ] {
        if let Some(b) = bound {
            let (ms, seq) = pair(b);
            let a = param(Box::new(ms), &mut params);
            let b = param(Box::new(seq), &mut params);
            conditions.push(format!("(stream_ms, stream_seq) {op} ({a}, {b})"));
        }
    }
    let limit_param = param(Box::new(limit + 1), &mut params);
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log {filter}
         ORDER BY stream_ms DESC, stream_seq DESC LIMIT {limit_param}"
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    let rows = client.query(&sql, &refs)?;
    let more = rows.len() as i64 > limit;
    let records = rows
        .iter()
        .take(limit as usize)
        .map(|row| {
            let ms: i64 = row.get(0);
            let seq: i64 = row.get(1);
            let at: DateTime<Utc> = row.get(2);
            Record {
                id: Position {
                    ms: ms as u64,
                    seq: seq as u64,
                }
                .to_string(),
                at: taskmaster_shared::time::rfc3339(at),
                actor: row.get(3),
                auth: row.get(4),
                token_id: row.get(5),
                request_id: row.get(6),
                action: row.get(7),
                entity: row.get(8),
                entity_id: row.get(9),
                changes: row
                    .get::<_, Option<serde_json::Value>>(10)
                    .unwrap_or(serde_json::Value::Null),
            }
        })
        .collect();
    Ok(Page { records, more })
}
