//! Task exports (`GET /users/{id}/tasks/export`, `GET /groups/{id}/tasks/export`):
//! every task of a list the caller may see, by id, as CSV or JSON,
//! streamed a page at a time.
//!
//! The list is walked with the paging engine (`crate::paging::read`,
//! `EXPORT_PAGE` tasks a step, in id order from the list's order index),
//! so the api holds one page whatever the list's size, and each page is
//! written out before the next is read. The first page is read before the
//! answer starts, so that what would refuse the export (a list whose index
//! is still being built: 503; Redis unreachable) is still a status. A
//! failure after that can only cut the body short: the chunked answer then
//! ends without its last chunk, which every HTTP client reports as an
//! incomplete download, never as a complete file.
//!
//! CSV follows RFC 4180 (CRLF line ends, fields quoted when they must be)
//! with a header row. Cells are neutralised against spreadsheet formula
//! injection (see [`neutralise`]); `labels` is a JSON array, so that any
//! label survives a round trip.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::{StreamExt, stream};
use taskmaster_shared::config::ListLimits;
use taskmaster_shared::domain::FieldError;
use taskmaster_shared::model::Task;

use crate::error::ApiError;
use crate::paging::params::Position;
use crate::paging::{self, Page, PageQuery, Paging, Sort, Start, Style};
use crate::state::AppState;
use crate::store::{OrderScope, Store};
use crate::task_filter::TaskFilter;

/// Tasks read and written out per step.
pub const EXPORT_PAGE: usize = 500;

/// The columns of a CSV export, in order: the task's fields as answered.
pub const COLUMNS: [&str; 14] = [
    "id",
    "title",
    "status",
    "priority",
    "deadline",
    "information",
    "user_id",
    "group_id",
    "created_at",
    "updated_at",
    "state",
    "created_by",
    "labels",
    "completed_at",
];

/// What an export is written as (`format=`, CSV by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// `format=csv|json`; absent or empty: CSV.
    pub fn parse(raw: Option<&str>) -> Result<Format, FieldError> {
        match raw {
            None | Some("" | "csv") => Ok(Format::Csv),
            Some("json") => Ok(Format::Json),
            Some(_) => Err(FieldError::new("format", "must be csv or json")),
        }
    }
}

/// Query parameters of the lists that an export does not take: it
/// answers every task, by id.
pub const REFUSED: [&str; 7] = [
    "limit", "cursor", "page", "per_page", "skip", "since", "sort",
];

/// Who may see which of the list's tasks (`None`: all of them).
pub type Visibility = Option<Box<dyn Fn(&Task) -> bool + Send + Sync>>;

/// Whose list is exported: it names the file and the JSON's id field.
#[derive(Debug, Clone, Copy)]
pub enum List {
    User(u64),
    Group(u64),
}

impl List {
    fn kind_and_id(self) -> (&'static str, u64) {
        match self {
            List::User(id) => ("user", id),
            List::Group(id) => ("group", id),
        }
    }
}

/// One export: the list, where its tasks are read, its filters, who sees
/// what, and the format.
pub struct Export {
    pub list: List,
    pub scope: OrderScope,
    pub filter: TaskFilter,
    pub visible: Visibility,
    pub format: Format,
}

/// Prefixes `'` to a cell a spreadsheet would run as a formula or treat
/// specially: one starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return (OWASP's list), and one starting with `'` itself, so that
/// dropping one leading `'` always gives the value back.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// One task as a CSV record of [`COLUMNS`].
fn csv_record(out: &mut csv::Writer<Vec<u8>>, t: &Task) -> Result<(), csv::Error> {
    let labels = serde_json::to_string(&t.labels).unwrap_or_else(|_| "[]".to_owned());
    let created_by = t.created_by.map(|id| id.to_string()).unwrap_or_default();
    let fields: [std::borrow::Cow<'_, str>; 14] = [
        t.id.to_string().into(),
        neutralise(&t.title),
        if t.status { "true" } else { "false" }.into(),
        t.priority.to_string().into(),
        t.deadline.as_str().into(),
        neutralise(&t.information),
        t.user_id.to_string().into(),
        t.group_id.to_string().into(),
        t.created_at.as_str().into(),
        t.updated_at.as_str().into(),
        t.state.as_str().into(),
        created_by.into(),
        neutralise(&labels),
        t.completed_at.as_deref().unwrap_or_default().into(),
    ];
    out.write_record(fields.iter().map(|f| f.as_bytes()))
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// The header row.
fn csv_header() -> Vec<u8> {
    let mut w = csv_writer();
    // Writing into a Vec cannot fail.
    let _ = w.write_record(COLUMNS);
    w.into_inner().unwrap_or_default()
}

/// A page's rows in the export's format (`first`: no row before them).
fn encode(format: Format, rows: &[Vec<u8>], first: bool) -> Vec<u8> {
    match format {
        Format::Json => {
            let mut out = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum());
            for (i, row) in rows.iter().enumerate() {
                if i > 0 || !first {
                    out.push(b',');
                }
                out.extend_from_slice(row);
            }
            out
        }
        Format::Csv => {
            let mut w = csv_writer();
            for row in rows {
                if let Some(t) = Task::from_json(row) {
                    let _ = csv_record(&mut w, &t);
                }
            }
            w.into_inner().unwrap_or_default()
        }
    }
}

/// The walk through the list, one page a step.
struct Walk {
    store: Store,
    limits: ListLimits,
    export: Export,
    sort: Sort,
    next: Option<Position>,
    /// A row was written (the next JSON row follows a comma).
    started: bool,
    /// The JSON answer's end is still to be written.
    open: bool,
}

impl Walk {
    async fn page(&self) -> Result<Page, ApiError> {
        let paging = Paging {
            limit: EXPORT_PAGE,
            start: Start::After(self.next.clone()),
            style: Style::Cursor,
        };
        let e = &self.export;
        paging::read(
            &self.store,
            &PageQuery {
                scope: e.scope,
                sort: &self.sort,
                paging: &paging,
                filter: &e.filter,
                visible: e.visible.as_deref(),
                limits: &self.limits,
            },
        )
        .await
    }

    /// The page's rows in the export's format, and where the walk goes on.
    fn write(&mut self, page: Page) -> Vec<u8> {
        let chunk = encode(self.export.format, &page.rows, !self.started);
        self.started |= !page.rows.is_empty();
        self.next = page.next;
        chunk
    }

    /// The next chunk of the answer (`None`: it is whole).
    async fn step(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.next.is_some() {
            return Some(match self.page().await {
                Ok(page) => Ok(Bytes::from(self.write(page))),
                Err(e) => {
                    // Logged once here; the client sees a cut download.
                    tracing::error!(error = %e, "an export stopped midway");
                    self.next = None;
                    self.open = false;
                    Err(std::io::Error::other("export stopped midway"))
                }
            });
        }
        if std::mem::take(&mut self.open) && self.export.format == Format::Json {
            return Some(Ok(Bytes::from_static(b"]}}")));
        }
        None
    }
}

/// Answers the export: the first page read now, the rest as the client
/// takes them.
pub async fn respond(state: &AppState, export: Export) -> Result<Response, ApiError> {
    let (kind, id) = export.list.kind_and_id();
    let format = export.format;
    let mut walk = Walk {
        store: state.store.clone(),
        limits: state.config.lists,
        export,
        sort: Sort::default(),
        next: None,
        started: false,
        open: true,
    };
    let first = walk.page().await?;
    let (media, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let disposition = format!("attachment; filename=\"{kind}-{id}-tasks.{ext}\"");
    let mut head = match format {
        Format::Csv => csv_header(),
        Format::Json => {
            format!(r#"{{"success":true,"data":{{"{kind}_id":{id},"tasks":["#).into_bytes()
        }
    };
    head.extend(walk.write(first));
    let rest = stream::unfold(walk, |mut walk| async move {
        let chunk = walk.step().await?;
        Some((chunk, walk))
    });
    let head = stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(head)) });
    let mut response = Response::new(Body::from_stream(head.chain(rest)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralised_and_others_kept() {
        for (cell, out) in [
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'quoted", "''quoted"),
            ("plain", "plain"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), out, "{cell:?}");
        }
    }

    #[test]
    fn format_is_csv_by_default_and_refuses_others() {
        assert_eq!(Format::parse(None), Ok(Format::Csv));
        assert_eq!(Format::parse(Some("json")), Ok(Format::Json));
        assert!(Format::parse(Some("xml")).is_err());
    }
}
