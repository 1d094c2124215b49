//! The history: every operation a client sent, with its answer, as one
//! JSON line in `history.jsonl.gz`, written by one task so clients never
//! wait on the disk. Kept whole for whoever wants to replay a finding;
//! the checker works from the clients' models and [`Ledger`].

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::client::Outcome;
use super::model::Kind;

#[derive(Debug, Serialize)]
pub struct Record {
    pub op: u64,
    pub client: usize,
    pub what: &'static str,
    pub method: &'static str,
    pub path: String,
    /// ms since the run started: sent, answered.
    pub t0: u64,
    pub t1: u64,
    pub status: u16,
    pub outcome: Outcome,
    pub answer: Value,
}

/// Writes records until every sender is gone; answers how many it wrote.
pub fn writer(
    path: &Path,
) -> std::io::Result<(mpsc::UnboundedSender<Record>, std::thread::JoinHandle<u64>)> {
    let file = std::fs::File::create(path)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    let handle = std::thread::spawn(move || {
        let mut out = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        let mut n = 0;
        while let Some(record) = rx.blocking_recv() {
            if serde_json::to_writer(&mut out, &record).is_ok() && out.write_all(b"\n").is_ok() {
                n += 1;
            }
        }
        let _ = out.finish().and_then(|mut w| w.flush());
        n
    });
    Ok((tx, handle))
}

/// What the checker needs of the whole history besides the models: every
/// write's outcome by request id (for the audit log), and every id a
/// create was answered with (for reuse).
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<LedgerInner>,
}

#[derive(Default)]
pub struct LedgerInner {
    /// Request (op) number → outcome, what it was, and whether the write
    /// is one the audit log records.
    pub writes: HashMap<u64, (Outcome, &'static str, bool)>,
    /// (kind, id) → the op that was answered with it as a new row.
    pub created: HashMap<(Kind, String), u64>,
    pub reused: Vec<String>,
    /// Markers (titles, emails, names) of creates that got no answer.
    pub unsure_creates: Vec<String>,
    /// An acknowledged retry → the earlier attempts under its
    /// `Idempotency-Key`: a replayed answer's write happened in one of
    /// them, and its audit record carries that attempt's request id.
    pub attempts: HashMap<u64, Vec<u64>>,
    /// Request (op) number → when it was sent and when its answer came
    /// (ms since the start).
    pub timing: HashMap<u64, (u64, u64)>,
}

impl Ledger {
    pub fn write(&self, op: u64, outcome: Outcome, what: &'static str, audited: bool) {
        self.lock().writes.insert(op, (outcome, what, audited));
    }

    pub fn answered(&self, op: u64, sent_ms: u64, at_ms: u64) {
        self.lock().timing.insert(op, (sent_ms, at_ms));
    }

    /// A create was answered with `id`: a reuse if another op was too.
    pub fn created(&self, kind: Kind, id: &str, op: u64) {
        let mut inner = self.lock();
        if let Some(first) = inner.created.insert((kind, id.to_owned()), op) {
            inner.reused.push(format!(
                "{} {id}: answered to op {first} and again to op {op}",
                kind.name()
            ));
        }
    }

    pub fn attempts(&self, op: u64, earlier: Vec<u64>) {
        if !earlier.is_empty() {
            self.lock().attempts.insert(op, earlier);
        }
    }

    pub fn unsure_create(&self, marker: String) {
        self.lock().unsure_creates.push(marker);
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, LedgerInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
