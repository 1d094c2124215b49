//! Times one syncd flush of everything dirty in a prefix (seeded by
//! `bench-seed`) into a PostgreSQL database, then the audit log's catching
//! up with every change log entry the seeding wrote, and prints the rows
//! and the seconds of each as JSON. `deploy/bench-flush.sh` compares both
//! with `COPY`.
//!
//! Usage: `bench-flush <redis url> <key prefix> <database url>`.

use std::time::Instant;

use taskmaster_shared::config::{SyncdConfig, lookup_from_pairs};

#[tokio::main]
#[allow(clippy::print_stdout)] // The measurement is this tool's output.
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, redis, prefix, db] = args.as_slice() else {
        eprintln!("usage: bench-flush <redis url> <key prefix> <database url>");
        std::process::exit(64);
    };
    let config = SyncdConfig::from_lookup(lookup_from_pairs(&[
        ("REDIS_URL", redis),
        ("REDIS_KEY_PREFIX", prefix),
        ("DATABASE_URL", db),
        ("REDIS_RESPONSE_TIMEOUT", "120s"),
    ]))
    .expect("configuration");
    let syncd = taskmaster_syncd::Syncd::new(config).expect("syncd");
    syncd.migrate().await.expect("migrations");
    let started = Instant::now();
    let report = syncd.flush_once().await.expect("flush");
    let secs = started.elapsed().as_secs_f64();
    let client = redis::Client::open(redis.as_str()).expect("redis url");
    let started = Instant::now();
    let audited = taskmaster_syncd::audit::catch_up(&client, &syncd.keys, syncd.audit_pg.clone())
        .await
        .expect("audit");
    let audit_secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "rows": report.rows(), "tasks": report.upserted[2], "seconds": secs,
            "audit_rows": audited, "audit_seconds": audit_secs,
        })
    );
}
