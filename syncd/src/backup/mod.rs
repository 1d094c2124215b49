//! Backup files: a point-in-time copy of every row, and loading one back.
//!
//! A backup is one gzip file, `taskmaster-YYYYMMDDTHHMMSSZ.backup.gz` in
//! `BACKUP_DIR`, with `<file>.sha256` beside it in `sha256sum` format (so
//! `sha256sum -c` checks it too). Inside, in this order:
//!
//! ```text
//! taskmaster-backup 5
//! {"created_at":"…","kind":"snapshot","last_ids":[u,g,t,w]}
//! table users id,full_name,…
//! <rows in PostgreSQL's COPY text format>
//! \.
//! table groups …            (then user_groups, tasks, api_tokens, webhooks, audit_log)
//! end {"users":N,"groups":N,"user_groups":N,"tasks":N,"api_tokens":N,"webhooks":N,"audit_log":N}
//! ```
//!
//! The audit log is history, not state: a restore adds the backup's
//! records to those PostgreSQL holds (ON CONFLICT DO NOTHING on the stream
//! id) and never removes one, so restoring an older backup keeps the
//! record of everything since, and restoring into an empty database brings
//! the history back.
//!
//! Older versions still load: version 4 (before webhooks), version 3
//! (also before the audit log), version 2 (before task states and labels:
//! its tasks get `done` or `todo` from their status, no creator, no
//! labels) and version 1 (also before deactivation and personal tokens: no
//! `users.active` column, no `api_tokens` table; its users come back
//! active).
//!
//! The rows are read in one REPEATABLE READ transaction (one consistent
//! snapshot) and streamed through `COPY … TO STDOUT` into the compressor,
//! so a backup of any size runs in a few buffers of memory. The file is
//! written under a temporary name, synced, then renamed: a crash never
//! leaves a half file under a backup's name. Restoring checks the checksum
//! and the row counts, then loads every table with `COPY … FROM STDIN` in
//! one transaction that first empties them.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use postgres::{Client, IsolationLevel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use taskmaster_shared::hex::hex;

mod load;

pub use load::load;

const MAGIC: &str = "taskmaster-backup 5";
const PREFIX: &str = "taskmaster-";
const SUFFIX: &str = ".backup.gz";

/// The tables a backup holds, in foreign-key order, with their columns
/// (generated columns are left out: PostgreSQL computes them again).
pub const TABLES: [(&str, &str); 7] = [
    (
        "users",
        "id,full_name,email,role,number,password_hash,work_times,created_at,updated_at,active",
    ),
    ("groups", "id,name,admin_id,created_at,updated_at"),
    ("user_groups", "user_id,group_id"),
    (
        "tasks",
        "id,title,status,priority,deadline,information,user_id,group_id,created_at,updated_at,state,created_by,labels,completed_at",
    ),
    (
        "api_tokens",
        "id,user_id,name,secret_hash,read_only,created_at,expires_at,last_used_at",
    ),
    (
        "webhooks",
        "id,group_id,url,events,secret,active,created_by,created_at,updated_at",
    ),
    ("audit_log", crate::audit::write::COLUMNS),
];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Rows per table in a backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCounts {
    pub users: u64,
    pub groups: u64,
    pub user_groups: u64,
    pub tasks: u64,
    #[serde(default)]
    pub api_tokens: u64,
    #[serde(default)]
    pub webhooks: u64,
    #[serde(default)]
    pub audit_log: u64,
}

impl TableCounts {
    fn set(&mut self, table: &str, n: u64) {
        match table {
            "users" => self.users = n,
            "groups" => self.groups = n,
            "user_groups" => self.user_groups = n,
            "api_tokens" => self.api_tokens = n,
            "audit_log" => self.audit_log = n,
            "webhooks" => self.webhooks = n,
            _ => self.tasks = n,
        }
    }
}

/// A backup that was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    pub file: String,
    pub path: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub rows: TableCounts,
    pub created_at: String,
    /// Older backups removed to keep `BACKUP_KEEP`.
    pub pruned: Vec<String>,
}

/// Counts lines (COPY rows) and hashes what passes through.
struct Tally<W> {
    inner: W,
    lines: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The name of a backup made at `at`.
pub fn file_name(kind: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let stamp = at.format("%Y%m%dT%H%M%S%.6fZ").to_string().replace('.', "");
    if kind == "snapshot" {
        format!("{PREFIX}{stamp}{SUFFIX}")
    } else {
        format!("{PREFIX}{kind}-{stamp}{SUFFIX}")
    }
}

/// Writes a backup of every row to `dir`, then removes the oldest plain
/// snapshots beyond `keep`. `kind` is `snapshot` for ordinary backups and
/// names other ones (`pre-restore`), which pruning leaves alone.
pub fn write_backup(
    client: &mut Client,
    dir: &Path,
    kind: &str,
    keep: usize,
) -> Result<BackupInfo, BackupError> {
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let now = chrono::Utc::now();
    let name = file_name(kind, now);
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.partial"));
    let file = File::create(&partial).map_err(io_at(&partial))?;
    let result = (|| {
        let hashing = Hashing {
            inner: BufWriter::with_capacity(1 << 16, file),
            hash: Sha256::new(),
            size: 0,
        };
        let mut gz = GzEncoder::new(hashing, Compression::fast());
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let last_ids: Option<[i64; 4]> = tx
            .query_opt(
                "SELECT last_user_id, last_group_id, last_task_id, last_webhook_id FROM sync_state WHERE id = 1",
                &[],
            )?
            .map(|r| [r.get(0), r.get(1), r.get(2), r.get(3)]);
        let header = serde_json::json!({
            "created_at": taskmaster_shared::time::rfc3339(now),
            "kind": kind,
            "last_ids": last_ids,
        });
        writeln!(gz, "{MAGIC}\n{header}").map_err(io_at(&partial))?;
        let mut rows = TableCounts::default();
        for (table, columns) in TABLES {
            writeln!(gz, "table {table} {columns}").map_err(io_at(&partial))?;
            let mut reader = tx.copy_out(&format!(
                "COPY (SELECT {columns} FROM {table} ORDER BY 1, 2) TO STDOUT"
            ))?;
            let mut tally = Tally {
                inner: &mut gz,
                lines: 0,
            };
            io::copy(&mut reader, &mut tally).map_err(io_at(&partial))?;
            rows.set(table, tally.lines);
            writeln!(gz, "\\.").map_err(io_at(&partial))?;
        }
        tx.commit()?;
        let trailer = serde_json::to_string(&rows).unwrap_or_default();
        writeln!(gz, "end {trailer}").map_err(io_at(&partial))?;
        let hashing = gz.finish().map_err(io_at(&partial))?;
        let Hashing { inner, hash, size } = hashing;
        let file = inner
            .into_inner()
            .map_err(|e| io_at(&partial)(e.into_error()))?;
        file.sync_all().map_err(io_at(&partial))?;
        Ok::<_, BackupError>((rows, hex(&hash.finalize()), size))
    })();
    let (rows, sha256, size) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &path).map_err(io_at(&path))?;
    let sum_path = dir.join(format!("{name}.sha256"));
    fs::write(&sum_path, format!("{sha256}  {name}\n")).map_err(io_at(&sum_path))?;
    sync_dir(dir);
    let pruned = if kind == "snapshot" {
        prune(dir, keep)?
    } else {
        Vec::new()
    };
    Ok(BackupInfo {
        file: name,
        path: path.display().to_string(),
        size_bytes: size,
        sha256,
        rows,
        created_at: taskmaster_shared::time::rfc3339(now),
        pruned,
    })
}

/// Makes a rename durable (best effort: not every file system allows it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Plain snapshots in `dir`, oldest first (their names sort by time).
pub fn list(dir: &Path) -> Result<Vec<String>, BackupError> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| {
                n.starts_with(PREFIX)
                    && n.ends_with(SUFFIX)
                    && n[PREFIX.len()..].starts_with(|c: char| c.is_ascii_digit())
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_at(dir)(e)),
    };
    names.sort();
    Ok(names)
}

/// The newest `n` plain snapshots in `dir`, newest first, with their size
/// and time (the status record lists them); none when the folder cannot
/// be read.
pub fn recent(dir: &Path, n: usize) -> Vec<taskmaster_shared::control::BackupFile> {
    let names = list(dir).unwrap_or_default();
    names
        .into_iter()
        .rev()
        .take(n)
        .filter_map(|file| {
            let meta = fs::metadata(dir.join(&file)).ok()?;
            let modified: chrono::DateTime<chrono::Utc> = meta.modified().ok()?.into();
            Some(taskmaster_shared::control::BackupFile {
                file,
                size_bytes: meta.len(),
                modified_at: taskmaster_shared::time::rfc3339_seconds(modified),
            })
        })
        .collect()
}

fn prune(dir: &Path, keep: usize) -> Result<Vec<String>, BackupError> {
    let names = list(dir)?;
    let excess = names.len().saturating_sub(keep.max(1));
    let mut pruned = Vec::new();
    for name in names.into_iter().take(excess) {
        let path = dir.join(&name);
        fs::remove_file(&path).map_err(io_at(&path))?;
        let _ = fs::remove_file(dir.join(format!("{name}.sha256")));
        pruned.push(name);
    }
    Ok(pruned)
}

/// Resolves the file a restore names: a plain name in `dir`, or a path
/// inside `dir`. Files elsewhere are refused (copy them into `BACKUP_DIR`):
/// a control request must not make syncd read arbitrary files.
pub fn resolve(dir: &Path, from: &str) -> Result<PathBuf, BackupError> {
    let candidate = Path::new(from);
    let path = if candidate.components().count() == 1 {
        dir.join(candidate)
    } else {
        candidate.to_owned()
    };
    let canonical = path.canonicalize().map_err(io_at(&path))?;
    let home = dir.canonicalize().map_err(io_at(dir))?;
    if canonical.parent() != Some(home.as_path()) {
        return Err(BackupError::Invalid(format!(
            "{from}: backups are restored from BACKUP_DIR ({}) only; copy the file there",
            dir.display()
        )));
    }
    Ok(canonical)
}

/// Checks a file against its `.sha256` companion.
pub fn verify(path: &Path) -> Result<String, BackupError> {
    let sum_path = PathBuf::from(format!("{}.sha256", path.display()));
    let expected = fs::read_to_string(&sum_path).map_err(io_at(&sum_path))?;
    let expected = expected
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(BackupError::Invalid(format!(
            "{}: checksum mismatch (file {actual}, {} says {expected}); the file is damaged",
            path.display(),
            sum_path.display()
        )));
    }
    Ok(actual)
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String, BackupError> {
    let mut file = File::open(path).map_err(io_at(path))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_at(path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_only_snapshots_are_listed() {
        let a = file_name(
            "snapshot",
            chrono::DateTime::from_timestamp(1_700_000_000, 5_000).expect("time"),
        );
        let b = file_name(
            "snapshot",
            chrono::DateTime::from_timestamp(1_700_000_001, 0).expect("time"),
        );
        assert!(a < b, "{a} < {b}");
        assert!(
            a.starts_with("taskmaster-2023") && a.ends_with(".backup.gz"),
            "{a}"
        );
        let dir = std::env::temp_dir().join(format!("tm-backup-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        for n in [&a, &b, &file_name("pre-restore", chrono::Utc::now())] {
            fs::write(dir.join(n), b"x").expect("write");
        }
        assert_eq!(list(&dir).expect("list"), vec![a.clone(), b.clone()]);
        assert_eq!(prune(&dir, 1).expect("prune"), vec![a]);
        assert_eq!(list(&dir).expect("list"), vec![b]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_changed_byte_fails_the_checksum() {
        let dir = std::env::temp_dir().join(format!("tm-verify-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f.backup.gz");
        fs::write(&path, b"hello").expect("write");
        let sum = hex(&Sha256::digest(b"hello"));
        fs::write(
            dir.join("f.backup.gz.sha256"),
            format!("{sum}  f.backup.gz\n"),
        )
        .expect("sum");
        assert_eq!(verify(&path).expect("valid"), sum);
        fs::write(&path, b"hellO").expect("write");
        assert!(matches!(verify(&path), Err(BackupError::Invalid(_))));
        let _ = fs::remove_dir_all(&dir);
    }
}
