//! Appending audit records to PostgreSQL, in one transaction per batch,
//! idempotent on the stream id.
//!
//! The fast way is a binary `COPY` straight into `audit_log`. A batch read
//! again after a crash between the commit and the acknowledgement holds
//! records already there: its `COPY` fails on the primary key (and is
//! rolled back whole), and the batch goes again as `INSERT … SELECT FROM
//! unnest(…) ON CONFLICT DO NOTHING`, which writes only the new ones. So
//! the common case costs a `COPY`, and a replay writes nothing twice.

use chrono::{DateTime, Utc};
use postgres::Client;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::Type;
use serde_json::Value;
use taskmaster_shared::audit::Record;

/// The columns, in the order the statements name them.
pub const COLUMNS: &str =
    "stream_ms,stream_seq,at,actor,auth,token_id,request_id,action,entity,entity_id,changes";

const TYPES: [Type; 11] = [
    Type::INT8,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
];

/// One record's column values.
struct Row<'a> {
    ms: i64,
    seq: i64,
    at: DateTime<Utc>,
    record: &'a Record,
    changes: Option<&'a Value>,
}

impl<'a> Row<'a> {
    fn of(record: &'a Record) -> Option<Row<'a>> {
        let p = record.position()?;
        Some(Row {
            ms: i64::try_from(p.ms).unwrap_or(i64::MAX),
            seq: i64::try_from(p.seq).unwrap_or(i64::MAX),
            // The stream id's time stands in for an unreadable `at`.
            at: DateTime::parse_from_rfc3339(&record.at)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| DateTime::from_timestamp_millis(p.ms as i64))
                .unwrap_or_default(),
            record,
            changes: (!record.changes.is_null()).then_some(&record.changes),
        })
    }
}

/// Appends `records` in one transaction; how many were new (a replay
/// writes none).
pub fn append(client: &mut Client, records: &[Record]) -> Result<u64, postgres::Error> {
    let rows: Vec<Row<'_>> = records.iter().filter_map(Row::of).collect();
    match copy(client, &rows) {
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => insert_new(client, &rows),
        other => other,
    }
}

fn copy(client: &mut Client, rows: &[Row<'_>]) -> Result<u64, postgres::Error> {
    let mut tx = client.transaction()?;
    let sink = tx.copy_in(&format!("COPY audit_log ({COLUMNS}) FROM STDIN BINARY"))?;
    let mut writer = BinaryCopyInWriter::new(sink, &TYPES);
    for row in rows {
        let r = row.record;
        writer.write(&[
            &row.ms,
            &row.seq,
            &row.at,
            &r.actor,
            &r.auth,
            &r.token_id,
            &r.request_id,
            &r.action,
            &r.entity,
            &r.entity_id,
            &row.changes,
        ])?;
    }
    let n = writer.finish()?;
    tx.commit()?;
    Ok(n)
}

fn insert_new(client: &mut Client, rows: &[Row<'_>]) -> Result<u64, postgres::Error> {
    let ms: Vec<i64> = rows.iter().map(|r| r.ms).collect();
    let seq: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|r| r.at).collect();
    let text = |f: fn(&Record) -> &str| -> Vec<&str> { rows.iter().map(|r| f(r.record)).collect() };
    let opt = |f: fn(&Record) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|r| f(r.record)).collect()
    };
    let changes: Vec<Option<&Value>> = rows.iter().map(|r| r.changes).collect();
    let mut tx = client.transaction()?;
    let n = tx.execute(
        &format!(
            "INSERT INTO audit_log ({COLUMNS})
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[],
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[])
             ON CONFLICT (stream_ms, stream_seq) DO NOTHING"
        ),
        &[
            &ms,
            &seq,
            &at,
            &text(|r| &r.actor),
            &text(|r| &r.auth),
            &opt(|r| r.token_id.as_deref()),
            &opt(|r| r.request_id.as_deref()),
            &text(|r| &r.action),
            &text(|r| &r.entity),
            &text(|r| &r.entity_id),
            &changes,
        ],
    )?;
    tx.commit()?;
    Ok(n)
}
