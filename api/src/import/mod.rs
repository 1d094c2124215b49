//! Task imports (`POST /users/{id}/tasks/import`): a CSV file of tasks
//! for one user, judged row by row by the create's own rules and written
//! through the create's own script.
//!
//! * [`parse`] reads the file into rows, each judged as a
//!   `POST /users/{id}/tasks` body is.
//! * [`prepare`] takes the request's part: the file judged, the rules that
//!   depend on the data checked once per group (all-or-nothing and dry
//!   runs), and, unless it is a dry run or refused as a whole, the job
//!   opened in Redis with its file.
//! * [`job`] runs a job to its end, in steps of [`job::STEP_ROWS`]
//!   creates, each one atomic step with the job's progress; any api takes
//!   over a job whose api stopped. A small import's request runs its job
//!   itself and answers when it ended; a larger one answers 202 at once.
//! * [`report`] turns a job's record into its answer.
//!
//! Modes: all-or-nothing (the default: a row refused, nothing is kept),
//! `partial=true` (good rows written, bad ones reported), `dry_run=true`
//! (judged and reported, nothing written, no job).

pub mod job;
pub mod parse;
pub mod report;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::StatusCode;
use taskmaster_shared::domain::{FieldError, GroupId, UserId};

use crate::answers::{ImportError, ImportJob};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{JobOpen, Opened, Refusal};
pub use parse::{FileError, Parsed};

/// Most rows a report lists (the total is counted in full).
pub const REPORT_MAX: usize = 100;
/// Most imports one principal may have running at once.
pub const ACTIVE_PER_PRINCIPAL: usize = 3;
/// Import requests one api process reads and judges at once; one more is
/// 429 at once (a file of 20 MiB and its rows are about 100 MB).
pub const UPLOADS_AT_ONCE: usize = 4;

/// How an import treats a refused row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Any row refused, nothing is kept (the default).
    AllOrNothing,
    /// Good rows are written, bad ones reported.
    Partial,
    /// Judged and reported; nothing is written.
    DryRun,
}

impl Mode {
    /// As answered.
    pub fn name(self) -> &'static str {
        match self {
            Mode::AllOrNothing => "all_or_nothing",
            Mode::Partial => "partial",
            Mode::DryRun => "dry_run",
        }
    }

    /// As `P job:{id}` holds it (the scripts read `all`).
    fn stored(self) -> &'static str {
        match self {
            Mode::AllOrNothing => "all",
            _ => "partial",
        }
    }

    fn of_stored(s: &str) -> Mode {
        if s == "all" {
            Mode::AllOrNothing
        } else {
            Mode::Partial
        }
    }
}

/// The query of an import: `dry_run`, `partial`, `group_id` (the group
/// of rows whose `group_id` cell is empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    pub default_group: Option<GroupId>,
}

impl Options {
    pub fn from_query(query: &HashMap<String, String>) -> Result<Options, FieldError> {
        let flag = |name: &'static str| match query.get(name).map(String::as_str) {
            None | Some("false" | "0" | "") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(FieldError::new(name, "must be true or false")),
        };
        let (dry_run, partial) = (flag("dry_run")?, flag("partial")?);
        let default_group =
            match query.get("group_id").map(String::as_str) {
                None | Some("") => None,
                Some(g) => Some(GroupId::parse(g).ok_or_else(|| {
                    FieldError::new("group_id", format!("`{g}` is not a group id"))
                })?),
            };
        let mode = match (dry_run, partial) {
            (true, _) => Mode::DryRun,
            (false, true) => Mode::Partial,
            (false, false) => Mode::AllOrNothing,
        };
        Ok(Options {
            mode,
            default_group,
        })
    }
}

/// Who imports, for whom.
pub struct Importer {
    pub user: UserId,
    /// The caller who must administer each row's group (a group admin
    /// importing for a member), as for a create.
    pub admin: Option<UserId>,
    /// `owner` or the caller's id: who may read and cancel the job.
    pub creator: String,
    /// The tasks' `created_by`.
    pub created_by: Option<UserId>,
    /// The change log's context for the rows (see `crate::acting`).
    pub context: String,
}

/// What the request part of an import decided.
pub enum Prepared {
    /// Nothing written: the status, the error and the report.
    Refused(StatusCode, String, Box<ImportJob>),
    /// A dry run's report.
    Validated(Box<ImportJob>),
    /// A job opened (or found under the request's `Idempotency-Key`:
    /// `again`) with `rows` rows to write.
    Opened {
        id: u64,
        token: String,
        again: bool,
        rows: usize,
        parsed: Arc<Parsed>,
    },
}

/// Reads and judges `file`, and opens its job unless it is a dry run or
/// refused as a whole.
pub async fn prepare(
    state: &AppState,
    who: &Importer,
    options: Options,
    file: axum::body::Bytes,
    idempotency: Option<&(String, String)>,
) -> Result<Prepared, ApiError> {
    let (parsed, file) = tokio::task::spawn_blocking(move || {
        let parsed = parse::parse(&file, options.default_group.map(GroupId::get));
        (parsed, file)
    })
    .await
    .map_err(ApiError::internal)?;
    let parsed = Arc::new(parsed.map_err(|e| {
        if e.is_malformed() {
            ApiError::BadRequest(e.to_string())
        } else {
            ApiError::Unprocessable(e.to_string())
        }
    })?);
    let mut errors: Vec<ImportError> = parsed
        .rows
        .iter()
        .filter_map(|r| r.task.as_ref().err())
        .map(|e| ImportError {
            row: Some(e.row),
            field: e.field.clone(),
            message: e.message.clone(),
        })
        .collect();
    let mut valid = parsed.rows.len() - errors.len();
    let mut quota_only = false;
    if options.mode != Mode::Partial && valid > 0 {
        let found = check(state, who, &parsed, valid).await?;
        quota_only =
            errors.is_empty() && !found.is_empty() && found.iter().all(|e| e.row.is_none());
        valid -= found.iter().filter_map(|e| e.row).count();
        errors.extend(found);
        errors.sort_by_key(|e| e.row);
    }
    let report = |status| {
        Box::new(ImportJob {
            created: 0,
            created_at: None,
            errors_total: errors.len() as u64,
            errors: errors.iter().take(REPORT_MAX).cloned().collect(),
            finished_at: None,
            id: None,
            ignored_columns: parsed.ignored_columns.clone(),
            kind: "import",
            mode: options.mode.name(),
            phase: String::new(),
            reason: None,
            rows_done: 0,
            rows_total: parsed.rows.len() as u64,
            started_at: None,
            status,
            unknown_columns: parsed.unknown_columns.clone(),
            user_id: who.user.get(),
        })
    };
    match options.mode {
        Mode::DryRun => return Ok(Prepared::Validated(report("validated"))),
        Mode::AllOrNothing if quota_only => {
            let message = errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            return Ok(Prepared::Refused(
                StatusCode::CONFLICT,
                message,
                report("failed"),
            ));
        }
        Mode::AllOrNothing if !errors.is_empty() => {
            let message = format!(
                "{} of {} rows are invalid; nothing was imported",
                errors.len(),
                parsed.rows.len()
            );
            return Ok(Prepared::Refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                message,
                report("failed"),
            ));
        }
        _ if valid == 0 => {
            let message = "No row is valid; nothing was imported".to_owned();
            return Ok(Prepared::Refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                message,
                report("failed"),
            ));
        }
        _ => {}
    }
    let token = job::new_token();
    let entries: Vec<String> = errors
        .iter()
        .take(REPORT_MAX)
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect();
    let json = |list: &[String]| serde_json::to_string(list).unwrap_or_default();
    let fields = [
        ("mode", options.mode.stored().to_owned()),
        ("user", who.user.get().to_string()),
        (
            "group",
            options
                .default_group
                .map(|g| g.get().to_string())
                .unwrap_or_default(),
        ),
        ("admin", opt(who.admin)),
        ("created_by", opt(who.created_by)),
        ("context", who.context.clone()),
        ("rows_total", parsed.rows.len().to_string()),
        ("failed", errors.len().to_string()),
        ("unknown_columns", json(&parsed.unknown_columns)),
        ("ignored_columns", json(&parsed.ignored_columns)),
        ("token", token.clone()),
    ];
    let opened = state
        .store
        .open_job(
            &JobOpen {
                creator: &who.creator,
                max_active: ACTIVE_PER_PRINCIPAL,
                idempotency,
                file: &file,
                upload: &token,
                errors: &entries,
                fields: &fields,
            },
            &crate::clock::now(),
        )
        .await?;
    let (id, again) = match opened {
        Ok(Opened::New(id)) => (id, false),
        Ok(Opened::Again(id)) => (id, true),
        Err(Refusal::IdempotencyMismatch) => return Err(crate::idempotency::mismatch()),
        Err(Refusal::JobGone) => return Err(forgotten()),
        Err(Refusal::TooMany) => {
            return Err(ApiError::TooMany(format!(
                "At most {ACTIVE_PER_PRINCIPAL} imports may run at once for one caller; wait for one to end"
            )));
        }
        Err(other) => return Err(ApiError::Internal(format!("job_open: {other:?}").into())),
    };
    Ok(Prepared::Opened {
        id,
        token,
        again,
        rows: valid,
        parsed,
    })
}

/// 409 for an import whose job a restore forgot (job records are not
/// durable): sent again under its `Idempotency-Key`, or caught by the
/// restore between opening and reading its job. What it did can no longer
/// be answered, and running it again could write its rows twice.
pub fn forgotten() -> ApiError {
    ApiError::Conflict(
        "This import's job is no longer known (a restore forgot it); the rows it wrote, if any, \
         are among the user's tasks: check them before importing again, under a new \
         Idempotency-Key if one was sent"
            .into(),
    )
}

fn opt(id: Option<UserId>) -> String {
    id.map(|u| u.get().to_string()).unwrap_or_default()
}

/// The rows the data's rules refuse (a group the user is not in, one the
/// caller does not administer, a quota without room): one error per row,
/// and one without a row for the user's quota.
async fn check(
    state: &AppState,
    who: &Importer,
    parsed: &Parsed,
    valid: usize,
) -> Result<Vec<ImportError>, ApiError> {
    let mut groups: BTreeMap<GroupId, usize> = BTreeMap::new();
    for task in parsed.rows.iter().filter_map(|r| r.task.as_ref().ok()) {
        *groups.entry(task.group_id).or_default() += 1;
    }
    let list: Vec<(GroupId, usize)> = groups.into_iter().collect();
    let (user, verdicts) = state
        .store
        .import_check(who.user, who.admin, valid, &list)
        .await?;
    let refused: HashMap<GroupId, Refusal> = list
        .iter()
        .zip(verdicts)
        .filter_map(|((g, _), v)| Some((*g, v?)))
        .collect();
    let mut errors = Vec::new();
    if let Some(refusal) = user {
        errors.push(report::refusal_error(None, &refusal));
    }
    if !refused.is_empty() {
        for row in &parsed.rows {
            if let Ok(task) = &row.task
                && let Some(refusal) = refused.get(&task.group_id)
            {
                errors.push(report::refusal_error(Some(row.number), refusal));
            }
        }
    }
    Ok(errors)
}
