//! Loading a backup file into PostgreSQL, in the current format or an
//! older one (see the parent module for the format).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use postgres::Client;

use super::{BackupError, MAGIC, TABLES, TableCounts, io_at};

const MAGIC_V4: &str = "taskmaster-backup 4";
const MAGIC_V3: &str = "taskmaster-backup 3";
const MAGIC_V2: &str = "taskmaster-backup 2";
const MAGIC_V1: &str = "taskmaster-backup 1";

/// The task columns of versions 1 and 2 (before states and labels).
const TASKS_V2: (&str, &str) = (
    "tasks",
    "id,title,status,priority,deadline,information,user_id,group_id,created_at,updated_at",
);

/// The tables of a version 4 backup (before webhooks).
const TABLES_V4: [(&str, &str); 6] = [
    TABLES[0], TABLES[1], TABLES[2], TABLES[3], TABLES[4], TABLES[6],
];

/// The tables of a version 3 backup (before the audit log).
const TABLES_V3: [(&str, &str); 5] = [TABLES[0], TABLES[1], TABLES[2], TABLES[3], TABLES[4]];

/// The tables of a version 2 backup.
const TABLES_V2: [(&str, &str); 5] = [TABLES[0], TABLES[1], TABLES[2], TASKS_V2, TABLES[4]];

/// The tables of a version 1 backup.
const TABLES_V1: [(&str, &str); 4] = [
    (
        "users",
        "id,full_name,email,role,number,password_hash,work_times,created_at,updated_at",
    ),
    TABLES[1],
    TABLES[2],
    TASKS_V2,
];

/// Replaces every row in PostgreSQL with the backup's, in one transaction,
/// but the audit log's, which it adds to (see the parent module). The
/// checksum must have been verified first.
pub fn load(client: &mut Client, path: &Path) -> Result<TableCounts, BackupError> {
    let invalid = |what: &str| BackupError::Invalid(format!("{}: {what}", path.display()));
    let file = File::open(path).map_err(io_at(path))?;
    let mut input = BufReader::with_capacity(1 << 16, GzDecoder::new(file));
    let mut line = String::new();
    let next_line = |input: &mut BufReader<GzDecoder<File>>, line: &mut String| {
        line.clear();
        input.read_line(line).map_err(io_at(path))
    };
    next_line(&mut input, &mut line)?;
    let tables: &[(&str, &str)] = match line.trim_end() {
        MAGIC => &TABLES,
        MAGIC_V4 => &TABLES_V4,
        MAGIC_V3 => &TABLES_V3,
        MAGIC_V2 => &TABLES_V2,
        MAGIC_V1 => &TABLES_V1,
        _ => return Err(invalid("not a taskmaster backup")),
    };
    next_line(&mut input, &mut line)?;
    // The header is informational, but for the id counters the backup's
    // write-behind had recorded (absent from older backups): they are kept
    // with GREATEST, so a restore never hands out an id handed out before.
    let last_ids = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|h| serde_json::from_value::<Vec<i64>>(h["last_ids"].clone()).ok())
        .filter(|ids| ids.len() >= 3);
    let mut tx = client.transaction()?;
    tx.batch_execute("TRUNCATE users, groups, user_groups, tasks, api_tokens, webhooks")?;
    if let Some(ids) = last_ids {
        let at = |i: usize| ids.get(i).copied().unwrap_or(0);
        tx.execute(
            "UPDATE sync_state SET last_user_id = GREATEST(last_user_id, $1),
                 last_group_id = GREATEST(last_group_id, $2),
                 last_task_id = GREATEST(last_task_id, $3),
                 last_webhook_id = GREATEST(last_webhook_id, $4) WHERE id = 1",
            &[&at(0), &at(1), &at(2), &at(3)],
        )?;
    }
    let mut loaded = TableCounts::default();
    for &(table, columns) in tables {
        next_line(&mut input, &mut line)?;
        if line.trim_end() != format!("table {table} {columns}") {
            return Err(invalid(&format!("expected the {table} table")));
        }
        // Tasks from before states go through a staging table, to get
        // their state from their status before they meet the CHECK that
        // holds the two together.
        let staged = (table, columns) == TASKS_V2;
        let audit = table == "audit_log";
        let target = if staged {
            tx.batch_execute(
                "CREATE TEMP TABLE staged_tasks (LIKE tasks INCLUDING DEFAULTS) ON COMMIT DROP",
            )?;
            "staged_tasks"
        } else if audit {
            tx.batch_execute(
                "CREATE TEMP TABLE staged_audit (LIKE audit_log INCLUDING DEFAULTS) ON COMMIT DROP",
            )?;
            "staged_audit"
        } else {
            table
        };
        let mut writer = tx.copy_in(&format!("COPY {target} ({columns}) FROM STDIN"))?;
        let mut rows = 0u64;
        let mut row = Vec::with_capacity(256);
        loop {
            row.clear();
            let n = input.read_until(b'\n', &mut row).map_err(io_at(path))?;
            if n == 0 {
                return Err(invalid("ends inside a table"));
            }
            if row == b"\\.\n" {
                break;
            }
            writer.write_all(&row).map_err(io_at(path))?;
            rows += 1;
        }
        writer.finish()?;
        if staged {
            tx.batch_execute(
                "UPDATE staged_tasks SET state = 'done' WHERE status;
                 INSERT INTO tasks SELECT * FROM staged_tasks;",
            )?;
        }
        if audit {
            tx.batch_execute(
                "INSERT INTO audit_log SELECT * FROM staged_audit ON CONFLICT DO NOTHING",
            )?;
        }
        loaded.set(table, rows);
    }
    next_line(&mut input, &mut line)?;
    let expected: TableCounts = line
        .trim_end()
        .strip_prefix("end ")
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or_else(|| invalid("has no end line"))?;
    if expected != loaded {
        return Err(invalid(&format!(
            "row counts differ from its end line ({loaded:?} read, {expected:?} recorded)"
        )));
    }
    tx.commit()?;
    Ok(loaded)
}
