//! Reading the audit log (`GET /admin/audit`, a task's history).
//!
//! The api never talks to PostgreSQL, so a page comes from two places that
//! together hold every record exactly once:
//!
//! * Redis: the change log entries the audit consumer group has not
//!   acknowledged yet (`crate::store::AuditTail`): the newest, usually a
//!   handful, all of them while PostgreSQL is down;
//! * syncd: the records below that boundary, which PostgreSQL holds (an
//!   `audit` control request; see `taskmaster_shared::audit`).
//!
//! A page is filled from Redis first, then from syncd. Without syncd the
//! newest records are still served; a page that needs older ones is
//! answered with what Redis had and a cursor, or 503 when Redis had none.
//!
//! Time bounds (`since`, `until`) are compared with the entries' log
//! positions, whose first part is Redis's clock in milliseconds when the
//! change was logged: the same instant as `at` within a clock's drift.

use std::collections::HashMap;
use std::time::Duration;

use taskmaster_shared::audit::{DEFAULT_LIMIT, MAX_LIMIT, Page, Query, Record};
use taskmaster_shared::control::Action;
use taskmaster_shared::domain::FieldError;
use taskmaster_shared::position::Position;

use crate::answers::AuditPage;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a page waits for syncd's part.
const SYNCD_WAIT: Duration = Duration::from_secs(10);

/// The entity types a record names.
pub const ENTITIES: [&str; 7] = [
    "task", "user", "group", "token", "session", "webhook", "reset",
];

fn given<'q>(query: &'q HashMap<String, String>, name: &str) -> Option<&'q str> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn time(field: &'static str, text: &str) -> Result<u64, FieldError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .ok_or_else(|| {
            FieldError::new(
                field,
                "must be an RFC 3339 time, such as 2026-12-05T09:30:00Z",
            )
        })
}

fn plain(field: &'static str, text: &str, max: usize) -> Result<String, FieldError> {
    let ok = text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    ok.then(|| text.to_owned()).ok_or_else(|| {
        FieldError::new(
            field,
            format!("must be at most {max} letters, digits, '_' or '-'"),
        )
    })
}

/// Parses `actor`, `entity`, `id`, `since`, `until`, `cursor` and `limit`
/// (each optional) into a query. `until` and `cursor` both become its
/// exclusive `before`.
pub fn query_from(params: &HashMap<String, String>) -> Result<Query, FieldError> {
    let actor = given(params, "actor")
        .map(|a| plain("actor", a, 20))
        .transpose()?;
    let entity = given(params, "entity")
        .map(|e| {
            ENTITIES.contains(&e).then(|| e.to_owned()).ok_or_else(|| {
                FieldError::new("entity", format!("must be one of {}", ENTITIES.join(", ")))
            })
        })
        .transpose()?;
    let entity_id = given(params, "id")
        .map(|i| plain("id", i, 64))
        .transpose()?;
    let since = given(params, "since")
        .map(|t| time("since", t))
        .transpose()?
        .map(|ms| Position { ms, seq: 0 });
    let until = given(params, "until")
        .map(|t| time("until", t))
        .transpose()?
        .map(|ms| Position {
            ms: ms.saturating_add(1),
            seq: 0,
        });
    let cursor = given(params, "cursor")
        .map(|c| {
            Position::parse(c).ok_or_else(|| {
                FieldError::new("cursor", "must be a next_cursor from an earlier page")
            })
        })
        .transpose()?;
    let limit = match given(params, "limit") {
        None => DEFAULT_LIMIT,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let before = match (until, cursor) {
        (Some(u), Some(c)) => Some(u.min(c)),
        (u, c) => u.or(c),
    };
    Ok(Query {
        actor,
        entity,
        entity_id,
        since,
        until: None,
        before,
        limit,
    })
}

/// One page of records passing `query`, newest first.
pub async fn page(state: &AppState, query: Query) -> Result<AuditPage, ApiError> {
    if query.before == Some(Position::ORIGIN) {
        // Nothing is older than the log's first position (and Redis
        // refuses a range ending just before it).
        return Ok(AuditPage {
            records: Vec::new(),
            next_cursor: None,
        });
    }
    let limit = query.limit.clamp(1, MAX_LIMIT) as usize;
    let tail = state.store.audit_tail(&query, limit + 1).await?;
    let mut records: Vec<Record> = tail
        .matches
        .iter()
        .map(|(p, fields)| Record::from_entry(*p, fields))
        .collect();
    let last_id = |records: &[Record]| records.last().map(|r| r.id.clone());
    if records.len() > limit {
        records.truncate(limit);
        let next_cursor = last_id(&records);
        return Ok(AuditPage {
            records,
            next_cursor,
        });
    }
    if !tail.reached {
        // The read's budget ran out: go on from where it stopped.
        return Ok(AuditPage {
            records,
            next_cursor: tail.last.map(|p| p.to_string()),
        });
    }
    let floor = query.since.unwrap_or(Position::ORIGIN);
    if tail.boundary <= floor || tail.boundary == Position::ORIGIN {
        // Nothing PostgreSQL holds can pass.
        return Ok(AuditPage {
            records,
            next_cursor: None,
        });
    }
    if records.len() == limit {
        let next_cursor = last_id(&records);
        return Ok(AuditPage {
            records,
            next_cursor,
        });
    }
    let older = Query {
        before: Some(query.before.map_or(tail.boundary, |b| b.min(tail.boundary))),
        limit: (limit - records.len()) as u32,
        ..query
    };
    match from_syncd(state, older).await {
        Ok(page) => {
            records.extend(page.records);
            let next_cursor = if page.more { last_id(&records) } else { None };
            Ok(AuditPage {
                records,
                next_cursor,
            })
        }
        // The newest records are worth answering; the next page will ask
        // syncd again.
        Err(e) if !records.is_empty() => {
            tracing::debug!(error = %e, "audit: older records unavailable for now");
            let next_cursor = last_id(&records);
            Ok(AuditPage {
                records,
                next_cursor,
            })
        }
        Err(e) => Err(e),
    }
}

async fn from_syncd(state: &AppState, query: Query) -> Result<Page, ApiError> {
    let wait = SYNCD_WAIT.min(state.config.sync_request_timeout);
    let reply = crate::syncd::request(state, Action::Audit(query), wait).await?;
    let result = reply.outcome().map_err(|e| {
        tracing::warn!(error = %e, "syncd could not read the audit log");
        ApiError::Unavailable(
            "The audit log's older records are unavailable (PostgreSQL); retry shortly".into(),
        )
    })?;
    serde_json::from_value(result)
        .map_err(|e| ApiError::Internal(format!("syncd's audit page: {e}").into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn bad_parameters_are_refused_naming_the_field() {
        let cases = [
            ("entity", "tasks"),
            ("actor", "a b"),
            ("id", "x;drop"),
            ("since", "yesterday"),
            ("until", "2026-13-01T00:00:00Z"),
            ("cursor", "abc"),
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "-1"),
        ];
        for (field, value) in cases {
            let e = query_from(&params(&[(field, value)])).expect_err(value);
            assert_eq!(e.field, field, "{field}={value}");
        }
    }

    #[test]
    fn the_cursor_and_until_both_bound_the_page_from_above() {
        let q = query_from(&params(&[
            ("until", "1970-01-01T00:00:01Z"),
            ("cursor", "5000-0"),
            ("entity", "task"),
            ("id", "7"),
        ]))
        .expect("valid");
        assert_eq!(q.before, Some(Position { ms: 1001, seq: 0 }));
        assert_eq!(
            (q.entity.as_deref(), q.entity_id.as_deref()),
            (Some("task"), Some("7"))
        );
        assert_eq!(q.limit, DEFAULT_LIMIT);
        let q = query_from(&params(&[
            ("cursor", "5-3"),
            ("since", "1970-01-01T00:00:00.002Z"),
        ]))
        .expect("valid");
        assert_eq!(q.before, Some(Position { ms: 5, seq: 3 }));
        assert_eq!(q.since, Some(Position { ms: 2, seq: 0 }));
    }
}
