//! The restore benchmark's measuring tool (see `deploy/bench-restore.sh`).
//!
//! ```text
//! bench-restore backup  <redis url> <prefix> <database url> <dir>
//! bench-restore rebuild <redis url> <prefix> <database url>
//! bench-restore emit    <redis url> <prefix> <database url> <file>
//! ```
//!
//! `backup` writes a backup file of the database; `rebuild` rebuilds the
//! prefix's Redis data from it; both print rows and seconds as JSON.
//! `emit` writes the commands a rebuild sends, as RESP, for
//! `redis-cli --pipe` (the ceiling).

use std::io::Write;
use std::time::Instant;

use taskmaster_shared::config::{SyncdConfig, lookup_from_pairs};

#[tokio::main]
#[allow(clippy::print_stdout)] // The measurement is this tool's output.
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, redis, prefix, db, extra) = match args.as_slice() {
        [_, mode, redis, prefix, db, rest @ ..] => (mode, redis, prefix, db, rest.first()),
        _ => {
            eprintln!(
                "usage: bench-restore backup|rebuild|emit <redis url> <prefix> <database url> [dir|file]"
            );
            std::process::exit(64);
        }
    };
    let dir = extra.cloned().unwrap_or_else(|| "backups".into());
    let config = SyncdConfig::from_lookup(lookup_from_pairs(&[
        ("REDIS_URL", redis),
        ("REDIS_KEY_PREFIX", prefix),
        ("DATABASE_URL", db),
        ("BACKUP_DIR", &dir),
        ("REDIS_RESPONSE_TIMEOUT", "300s"),
    ]))
    .expect("configuration");
    let syncd = taskmaster_syncd::Syncd::new(config).expect("syncd");
    let started = Instant::now();
    let out = match mode.as_str() {
        "backup" => {
            let info = syncd.write_backup("snapshot").await.expect("backup");
            serde_json::json!({"rows": info.rows.users + info.rows.groups + info.rows.user_groups + info.rows.tasks,
                "tasks": info.rows.tasks, "bytes": info.size_bytes, "file": info.path})
        }
        "rebuild" => {
            let loaded = taskmaster_syncd::restore::rebuild(
                &syncd.redis,
                &syncd.keys,
                &syncd.pg,
                taskmaster_syncd::fence::Fence::new(None),
            )
            .await
            .expect("rebuild");
            serde_json::json!({"rows": loaded.users + loaded.groups + loaded.memberships + loaded.tasks,
                "tasks": loaded.tasks})
        }
        "emit" => {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&dir).expect("file"));
            let mut bytes = 0usize;
            let loaded = taskmaster_syncd::restore::packed_commands(&syncd.keys, &syncd.pg, |b| {
                bytes += b.len();
                file.write_all(&b).expect("write");
            })
            .await
            .expect("commands");
            file.flush().expect("flush");
            serde_json::json!({"tasks": loaded.tasks, "bytes": bytes})
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(64);
        }
    };
    let mut out = out;
    out["seconds"] = started.elapsed().as_secs_f64().into();
    println!("{out}");
}
