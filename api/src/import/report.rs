//! A job's record as its answer, and a create's refusal as a report's
//! entry.

use crate::answers::{ImportError, ImportJob};
use crate::error::{Write, refused};
use crate::store::{JobRecord, Refusal};

use super::Mode;

/// A refused create as a report entry: the create's own message, and the
/// field it is about.
pub fn refusal_error(row: Option<u64>, refusal: &Refusal) -> ImportError {
    let field = match refusal {
        Refusal::NotMember
        | Refusal::ForbiddenGroup
        | Refusal::GroupNotFound(_)
        | Refusal::GroupQuota(_) => Some("group_id".to_owned()),
        _ => None,
    };
    ImportError {
        row,
        field,
        message: refused(Write::CreateTask, refusal.clone()).to_string(),
    }
}

/// One stored entry: `{"row","field","message"}`, or `{"row","code"}` of
/// a create step's refusal.
fn entry(text: &str) -> Option<ImportError> {
    #[derive(serde::Deserialize)]
    struct Coded {
        row: u64,
        code: String,
    }
    if let Ok(coded) = serde_json::from_str::<Coded>(text) {
        let refusal = Refusal::decode(&coded.code, "")?;
        return Some(refusal_error(Some(coded.row), &refusal));
    }
    serde_json::from_str(text).ok()
}

/// The status a client sees: `undoing` is still running.
fn status(stored: &str) -> &'static str {
    match stored {
        "queued" => "queued",
        "running" | "undoing" => "running",
        "done" => "done",
        "cancelled" => "cancelled",
        _ => "failed",
    }
}

/// Why a job that failed or was cancelled ended so: a stored entry of the
/// row that stopped it reads as that row's message.
fn reason(text: &str) -> String {
    match entry(text) {
        Some(e) => match e.row {
            Some(row) => format!("row {row}: {}", e.message),
            None => e.message,
        },
        None => text.to_owned(),
    }
}

/// Job `record` as answered.
pub fn answer(record: &JobRecord) -> ImportJob {
    let f = |name: &str| record.fields.get(name).map(String::as_str);
    let number = |name: &str| f(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let text = |name: &str| f(name).filter(|v| !v.is_empty()).map(str::to_owned);
    let list = |name: &str| {
        f(name)
            .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
            .unwrap_or_default()
    };
    ImportJob {
        created: number("created"),
        created_at: text("created_at"),
        errors: record.errors.iter().filter_map(|e| entry(e)).collect(),
        errors_total: number("failed"),
        finished_at: text("finished_at"),
        id: f("id").and_then(|v| v.parse().ok()),
        ignored_columns: list("ignored_columns"),
        kind: "import",
        mode: Mode::of_stored(f("mode").unwrap_or_default()).name(),
        phase: f("phase").unwrap_or_default().to_owned(),
        reason: text("reason").map(|r| reason(&r)),
        rows_done: number("done"),
        rows_total: number("rows_total"),
        started_at: text("started_at"),
        status: status(f("status").unwrap_or_default()),
        unknown_columns: list("unknown_columns"),
        user_id: number("user"),
    }
}

/// Whether principal `who` (`owner` or a user id) may read and cancel
/// the job: its creator and the owner only.
pub fn visible_to(record: &JobRecord, who: &str, is_owner: bool) -> bool {
    is_owner || record.fields.get("creator").is_some_and(|c| c == who)
}
