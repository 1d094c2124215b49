//! Appending audit records to PostgreSQL: one statement per batch
//! (`INSERT … SELECT FROM unnest(…)` of one array per column), idempotent
//! on the stream id.

use chrono::{DateTime, Utc};
use postgres::Client;
use taskmaster_shared::audit::Record;

/// The columns, in the order the statements name them.
pub const COLUMNS: &str =
    "stream_ms,stream_seq,at,actor,auth,token_id,request_id,action,entity,entity_id,changes";

/// Appends `records` in one transaction; how many were new (a replay
/// writes none).
pub fn append(client: &mut Client, records: &[Record]) -> Result<u64, postgres::Error> {
    let mut ms = Vec::with_capacity(records.len());
    let mut seq = Vec::with_capacity(records.len());
    let mut at = Vec::with_capacity(records.len());
    let mut actor = Vec::with_capacity(records.len());
    let mut auth = Vec::with_capacity(records.len());
    let mut token = Vec::with_capacity(records.len());
    let mut request = Vec::with_capacity(records.len());
    let mut action = Vec::with_capacity(records.len());
    let mut entity = Vec::with_capacity(records.len());
    let mut entity_id = Vec::with_capacity(records.len());
    let mut changes = Vec::with_capacity(records.len());
    for r in records {
        let Some(p) = r.position() else { continue };
        ms.push(i64::try_from(p.ms).unwrap_or(i64::MAX));
        seq.push(i64::try_from(p.seq).unwrap_or(i64::MAX));
        // The stream id's time stands in for an unreadable `at`.
        at.push(
            DateTime::parse_from_rfc3339(&r.at)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| DateTime::from_timestamp_millis(p.ms as i64))
                .unwrap_or_default(),
        );
        actor.push(r.actor.as_str());
        auth.push(r.auth.as_str());
        token.push(r.token_id.as_deref());
        request.push(r.request_id.as_deref());
        action.push(r.action.as_str());
        entity.push(r.entity.as_str());
        entity_id.push(r.entity_id.as_str());
        changes.push((!r.changes.is_null()).then_some(&r.changes));
    }
    let mut tx = client.transaction()?;
    let n = tx.execute(
        &format!(
            "INSERT INTO audit_log ({COLUMNS})
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[],
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[])
             ON CONFLICT (stream_ms, stream_seq) DO NOTHING"
        ),
        &[
            &ms, &seq, &at, &actor, &auth, &token, &request, &action, &entity, &entity_id,
            &changes,
        ],
    )?;
    tx.commit()?;
    Ok(n)
}
