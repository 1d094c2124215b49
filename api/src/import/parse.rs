//! Reading an import file into rows judged by the create's own rules.
//!
//! * Text: UTF-8, with or without a byte-order mark. A NUL byte, UTF-16
//!   or invalid UTF-8 is not a CSV file (400).
//! * Separator: `,` or `;`, whichever the header line holds more of.
//! * Quotes: RFC 4180. A quoted cell that never closes is 400 naming its
//!   line, not a last cell that swallows the rest of the file.
//! * Header: the first record names the columns, in any case, with seed
//!   004's aliases (`task_name`, `description`). Columns an export writes
//!   but no create takes (`id`, `user_id`, the times, `created_by`) are
//!   ignored; other names are reported as unknown. A file without a
//!   `title` column, or without rows, is 422.
//! * Rows: each becomes a [`CreateTask`] and is judged by
//!   [`CreateTask::judge`], the very rules of `POST /users/{id}/tasks`.
//!   A row's number is the line it starts on (the header is line 1), as a
//!   spreadsheet numbers it. Blank rows are skipped.
//! * The cells an export neutralised against formula injection (a `'`
//!   before `=`, `+`, `-`, `@`, tab, carriage return or `'`) get their
//!   `'` back off, so an export re-imports to the same tasks.

use taskmaster_shared::domain::FieldError;

use crate::task_body::{CreateTask, NewTask};

/// The longest cell read (bytes): far beyond any field's own limit, so a
/// longer cell is a row error, not a field the rules judge.
pub const MAX_CELL: usize = 64 * 1024;

/// The most data rows a file may hold: twice the default task quota of a
/// user, and a bound on what a file of tiny rows costs the api's memory
/// (each row is held judged while its job runs).
pub const MAX_ROWS: usize = 200_000;

/// A file that cannot be read as a task table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// 422.
    #[error("The file is empty")]
    Empty,
    /// 400: binary data or text that is not UTF-8.
    #[error("The file is not UTF-8 text: {0}")]
    NotText(String),
    /// 400.
    #[error("Unbalanced quotes: the quoted cell opened on line {0} never closes")]
    Unbalanced(u64),
    /// 400: what the CSV reader could not read.
    #[error("The file is not valid CSV: {0}")]
    Csv(String),
    /// 422.
    #[error(
        "The first row must be a header naming the columns, with a `title` (or `task_name`) column; \
         columns: title, priority, deadline, information, group_id, status, state, labels"
    )]
    NoHeader,
    /// 422.
    #[error("The header names the column `{0}` twice")]
    Duplicate(String),
    /// 422.
    #[error("The file has a header but no rows")]
    NoRows,
    /// 422.
    #[error("The file holds more than {MAX_ROWS} rows: split it")]
    TooManyRows,
}

impl FileError {
    /// Whether the file is malformed (400) rather than readable but
    /// unusable (422).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            FileError::NotText(_) | FileError::Unbalanced(_) | FileError::Csv(_)
        )
    }
}

/// Why one row was not taken: its number, the field and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: u64,
    pub field: Option<String>,
    pub message: String,
}

/// One data row: its number and its task, or why it has none.
pub struct Row {
    pub number: u64,
    pub task: Result<NewTask, RowError>,
}

/// A file read.
pub struct Parsed {
    /// Every non-blank data row, in order.
    pub rows: Vec<Row>,
    pub unknown_columns: Vec<String>,
    pub ignored_columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Title,
    Priority,
    Deadline,
    Information,
    Group,
    Status,
    State,
    Labels,
}

impl Column {
    fn of(name: &str) -> Option<Column> {
        Some(match name {
            "title" | "task_name" => Column::Title,
            "priority" => Column::Priority,
            "deadline" => Column::Deadline,
            "information" | "description" => Column::Information,
            "group_id" => Column::Group,
            "status" => Column::Status,
            "state" => Column::State,
            "labels" => Column::Labels,
            _ => return None,
        })
    }

    fn field(self) -> &'static str {
        match self {
            Column::Title => "title",
            Column::Priority => "priority",
            Column::Deadline => "deadline",
            Column::Information => "information",
            Column::Group => "group_id",
            Column::Status => "status",
            Column::State => "state",
            Column::Labels => "labels",
        }
    }
}

/// What an export writes that no create takes.
const IGNORED: [&str; 6] = [
    "id",
    "user_id",
    "created_at",
    "updated_at",
    "created_by",
    "completed_at",
];

/// Reads `file`; rows without a `group_id` cell take `default_group`.
pub fn parse(file: &[u8], default_group: Option<u64>) -> Result<Parsed, FileError> {
    let text = decode(file)?;
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    let separator = separator(text);
    if let Some(line) = unclosed_quote(text, separator) {
        return Err(FileError::Unbalanced(line));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(FileError::Empty),
        Some(r) => r.map_err(csv_error)?,
    };
    let mut columns: Vec<Option<Column>> = Vec::with_capacity(header.len());
    let (mut unknown, mut ignored) = (Vec::new(), Vec::new());
    for name in &header {
        let name = name.trim().to_lowercase();
        let column = Column::of(&name);
        match column {
            Some(c) if columns.contains(&Some(c)) => return Err(FileError::Duplicate(name)),
            Some(_) => {}
            None if name.is_empty() => {}
            None if IGNORED.contains(&name.as_str()) => ignored.push(name),
            None => unknown.push(name),
        }
        columns.push(column);
    }
    if !columns.contains(&Some(Column::Title)) {
        return Err(FileError::NoHeader);
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(csv_error)?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let number = record.position().map_or(0, csv::Position::line);
        rows.push(Row {
            number,
            task: row(&columns, &record, default_group).map_err(|(field, message)| RowError {
                row: number,
                field: field.map(str::to_owned),
                message,
            }),
        });
    }
    if rows.is_empty() {
        return Err(FileError::NoRows);
    }
    Ok(Parsed {
        rows,
        unknown_columns: unknown,
        ignored_columns: ignored,
    })
}

type Refusal = (Option<&'static str>, String);

fn field_error(e: FieldError) -> Refusal {
    (Some(e.field), e.message)
}

/// One record as a create, judged.
fn row(
    columns: &[Option<Column>],
    record: &csv::StringRecord,
    default_group: Option<u64>,
) -> Result<NewTask, Refusal> {
    let mut body = CreateTask {
        title: None,
        group_id: default_group.and_then(|g| i64::try_from(g).ok()),
        priority: None,
        deadline: None,
        information: None,
        state: None,
        labels: None,
    };
    let mut status = None;
    for (i, cell) in record.iter().enumerate() {
        let column = columns.get(i).copied().flatten();
        if cell.len() > MAX_CELL {
            let field = column.map(Column::field);
            return Err((field, format!("a cell longer than {MAX_CELL} bytes")));
        }
        let Some(column) = column else {
            if i >= columns.len() && !cell.trim().is_empty() {
                return Err((
                    None,
                    format!(
                        "{} cells where the header names {}",
                        record.len(),
                        columns.len()
                    ),
                ));
            }
            continue;
        };
        let trimmed = cell.trim();
        match column {
            Column::Title => body.title = Some(restored(cell).to_owned()),
            Column::Information => body.information = Some(restored(cell).to_owned()),
            Column::Deadline => body.deadline = Some(trimmed.to_owned()),
            Column::State if !trimmed.is_empty() => body.state = Some(trimmed.to_lowercase()),
            Column::State => {}
            Column::Priority => body.priority = priority(trimmed)?,
            Column::Group if trimmed.is_empty() => {}
            Column::Group => {
                body.group_id = Some(trimmed.parse().map_err(|_| {
                    (
                        Some("group_id"),
                        format!("`{}` is not a group id", shown(trimmed)),
                    )
                })?);
            }
            Column::Status => status = done(trimmed)?,
            Column::Labels => body.labels = labels(restored(cell).trim())?,
        }
    }
    // An explicit state says more than a done flag.
    if body.state.is_none() {
        body.state = status.map(|s: &str| s.to_owned());
    }
    body.judge().map_err(|r| field_error(r.error))
}

/// A cell's value without the `'` an export put before it.
fn restored(cell: &str) -> &str {
    match cell.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'', ..] => &cell[1..],
        _ => cell,
    }
}

/// At most 40 characters of a cell, for a message.
fn shown(cell: &str) -> String {
    let mut s: String = cell.chars().take(40).collect();
    if s.len() < cell.len() {
        s.push('…');
    }
    s
}

fn priority(cell: &str) -> Result<Option<i64>, Refusal> {
    if cell.is_empty() {
        return Ok(None);
    }
    let named = match cell.to_ascii_uppercase().as_str() {
        "HIGH" => Some(1),
        "MEDIUM" => Some(2),
        "LOW" => Some(3),
        _ => None,
    };
    named
        .or_else(|| cell.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            (
                Some("priority"),
                format!(
                    "`{}` is not a priority: 1, 2, 3, HIGH, MEDIUM or LOW",
                    shown(cell)
                ),
            )
        })
}

/// A `status` cell as the state it means (seed 004's `status` is a done
/// flag).
fn done(cell: &str) -> Result<Option<&'static str>, Refusal> {
    Ok(match cell.to_ascii_lowercase().as_str() {
        "" => None,
        "true" | "yes" | "1" | "done" => Some("done"),
        "false" | "no" | "0" | "todo" => Some("todo"),
        "in_progress" => Some("in_progress"),
        _ => {
            return Err((
                Some("status"),
                format!(
                    "`{}` is not true, false, todo, in_progress or done",
                    shown(cell)
                ),
            ));
        }
    })
}

/// A `labels` cell: a JSON array of strings (what an export writes) or
/// labels separated by commas.
fn labels(cell: &str) -> Result<Option<Vec<String>>, Refusal> {
    if cell.is_empty() {
        return Ok(None);
    }
    if cell.starts_with('[') {
        return serde_json::from_str(cell)
            .map(Some)
            .map_err(|_| (Some("labels"), "is not a JSON array of strings".to_owned()));
    }
    Ok(Some(
        cell.split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

fn csv_error(e: csv::Error) -> FileError {
    let line = e.position().map(csv::Position::line);
    FileError::Csv(match line {
        Some(line) => format!("line {line}: {e}"),
        None => e.to_string(),
    })
}

/// The file as text, without a byte-order mark.
fn decode(file: &[u8]) -> Result<&str, FileError> {
    if file.starts_with(&[0xff, 0xfe]) || file.starts_with(&[0xfe, 0xff]) {
        return Err(FileError::NotText(
            "it is UTF-16; save it as UTF-8".to_owned(),
        ));
    }
    let file = file.strip_prefix(b"\xef\xbb\xbf").unwrap_or(file);
    if let Some(at) = file.iter().position(|&b| b == 0) {
        return Err(FileError::NotText(format!(
            "a NUL byte at offset {at} (a binary file?)"
        )));
    }
    std::str::from_utf8(file).map_err(|e| {
        let at = e.valid_up_to();
        let line = 1 + file[..at].iter().filter(|&&b| b == b'\n').count();
        FileError::NotText(format!("invalid UTF-8 on line {line} (byte {at})"))
    })
}

/// `;` when the first line holds more of them than of `,` (outside
/// quotes), else `,`.
fn separator(text: &str) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for b in text.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

/// The line a quoted cell that never closes opens on (cells separated by
/// `separator`). A quote opens a
/// quoted cell only at a cell's start (elsewhere it is a character of
/// the cell, as the CSV reader takes it); `""` inside is a quote.
fn unclosed_quote(text: &str, separator: u8) -> Option<u64> {
    let bytes = text.as_bytes();
    let (mut line, mut opened, mut quoted, mut at_start) = (1u64, 0u64, false, true);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
        }
        if quoted {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = false;
                }
            }
        } else if b == b'"' && at_start {
            quoted = true;
            opened = line;
        }
        at_start = !quoted && (b == separator || b == b'\n' || (b == b'\r' && at_start));
        i += 1;
    }
    quoted.then_some(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Result<String, (u64, Option<String>)>> {
        parse(text.as_bytes(), None)
            .expect("a readable file")
            .rows
            .into_iter()
            .map(|r| {
                r.task
                    .map(|t| format!("{}|{}|{}", t.title, t.group_id.get(), t.priority.get()))
                    .map_err(|e| (e.row, e.field))
            })
            .collect()
    }

    #[test]
    fn columns_match_in_any_case_with_seed_004s_aliases() {
        let parsed = parse(
            "Task_Name;PRIORITY;Description;group_id;colour\r\nShip;HIGH;notes;3;red\r\n"
                .as_bytes(),
            None,
        )
        .expect("readable");
        assert_eq!(parsed.unknown_columns, ["colour"]);
        let task = parsed.rows[0].task.as_ref().expect("a task");
        assert_eq!(
            (
                task.title.as_str(),
                task.priority.get(),
                task.information.as_str()
            ),
            ("Ship", 1, "notes")
        );
    }

    #[test]
    fn each_row_is_judged_by_the_create_rules_and_numbered_by_its_line() {
        let text = "title,group_id,priority\nok,1,\n,1,2\nbad prio,1,7\nno group,,\n\n\"two\nlines\",2,low\n";
        assert_eq!(
            rows(text),
            [
                Ok("ok|1|2".to_owned()),
                Err((3, Some("title".to_owned()))),
                Err((4, Some("priority".to_owned()))),
                Err((5, Some("group_id".to_owned()))),
                Ok("two\nlines|2|3".to_owned()),
            ]
        );
    }

    #[test]
    fn a_default_group_fills_empty_group_cells_only() {
        let parsed = parse(b"title,group_id\na,\nb,4\n", Some(9)).expect("readable");
        let groups: Vec<u64> = parsed
            .rows
            .iter()
            .map(|r| r.task.as_ref().expect("a task").group_id.get())
            .collect();
        assert_eq!(groups, [9, 4]);
    }

    #[test]
    fn neutralised_cells_get_their_quote_back_off() {
        for (cell, title) in [
            ("'=SUM(A1)", "=SUM(A1)"),
            ("'-5", "-5"),
            ("''quoted", "'quoted"),
            ("'plain", "'plain"),
        ] {
            let text = format!("title,group_id\n\"{cell}\",1\n");
            assert_eq!(rows(&text), [Ok(format!("{title}|1|2"))], "{cell}");
        }
    }

    #[test]
    fn bad_files_are_told_apart() {
        let cases: [(&[u8], FileError); 8] = [
            (b"", FileError::Empty),
            (b"\xef\xbb\xbf  \n", FileError::Empty),
            (b"title\n\"open,1\nnext\n", FileError::Unbalanced(2)),
            (
                b"\x00\x01\x02",
                FileError::NotText("a NUL byte at offset 0 (a binary file?)".into()),
            ),
            (
                b"title\n\xff\xfe\n",
                FileError::NotText("invalid UTF-8 on line 2 (byte 6)".into()),
            ),
            (b"name,priority\nx,1\n", FileError::NoHeader),
            (
                b"title,task_name\nx,y\n",
                FileError::Duplicate("task_name".into()),
            ),
            (b"title,priority\r\n\r\n,\r\n", FileError::NoRows),
        ];
        for (file, wanted) in cases {
            assert_eq!(parse(file, None).err(), Some(wanted), "{file:?}");
        }
    }

    #[test]
    fn a_file_of_more_rows_than_the_limit_is_refused_whole() {
        let mut file = String::from("title\n");
        file.push_str(&"a\n".repeat(MAX_ROWS));
        assert_eq!(
            parse(file.as_bytes(), None).map(|p| p.rows.len()).ok(),
            Some(MAX_ROWS)
        );
        file.push_str("one more\n");
        assert_eq!(
            parse(file.as_bytes(), None).err(),
            Some(FileError::TooManyRows)
        );
    }

    #[test]
    fn quotes_inside_a_cell_and_escaped_quotes_are_not_unbalanced() {
        assert_eq!(unclosed_quote("title\n5\" screen,1\n", b','), None);
        assert_eq!(unclosed_quote("title\n\"say \"\"hi\"\"\",1\n", b','), None);
        assert_eq!(unclosed_quote("a;\"b\nc\";d\n", b';'), None);
    }

    #[test]
    fn status_priority_and_labels_take_their_spreadsheet_spellings() {
        assert_eq!(done("TRUE"), Ok(Some("done")));
        assert_eq!(done("no"), Ok(Some("todo")));
        assert!(done("maybe").is_err());
        assert_eq!(priority("medium"), Ok(Some(2)));
        assert_eq!(priority("3"), Ok(Some(3)));
        assert!(priority("urgent").is_err());
        assert_eq!(
            labels(r#"["a,b","c"]"#),
            Ok(Some(vec!["a,b".to_owned(), "c".to_owned()]))
        );
        assert_eq!(
            labels("x, y ,"),
            Ok(Some(vec!["x".to_owned(), "y".to_owned()]))
        );
        assert!(labels("[1,2]").is_err());
    }
}
