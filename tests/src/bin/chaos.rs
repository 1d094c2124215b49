//! The fault run: `deploy/chaos.sh` builds and runs it (see the README,
//! "Reliability"). Configuration from the environment:
//!
//! * `CHAOS_MODE`: `short` (every fault kind twice, a few minutes; CI) or
//!   `long` (at least 1,000 faults and 1,000,000 acknowledged writes);
//! * `CHAOS_SEED`: the schedule's seed (default: from the clock, printed);
//! * `CHAOS_FSYNC`: Redis's `appendfsync`, `always` or `everysec`;
//! * `CHAOS_FAULTS`: only these kinds, comma-separated (`kill_redis,flush`);
//! * `CHAOS_OUT`: the run's folder (default `target/chaos/<seed>-<fsync>`).
//!
//! Exits 0 when the checker finds nothing, 1 when it finds something
//! (`report.json` in the folder says what), 2 when the run could not be
//! made, 130 when stopped by SIGTERM or SIGINT (after stopping every
//! server and process it started).

use std::path::PathBuf;

use taskmaster_tests::chaos::{self, Config};

#[tokio::main]
#[allow(clippy::print_stdout)] // The report is this tool's output.
async fn main() {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let seed = match std::env::var("CHAOS_SEED") {
        Ok(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("CHAOS_SEED must be a number, not {s:?}");
            std::process::exit(64)
        }),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
    };
    let fsync = var("CHAOS_FSYNC", "always");
    if fsync != "always" && fsync != "everysec" {
        eprintln!("CHAOS_FSYNC must be always or everysec");
        std::process::exit(64);
    }
    let out = std::env::var("CHAOS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(format!("target/chaos/{seed}-{fsync}")));
    let mut config = match var("CHAOS_MODE", "short").as_str() {
        "short" => Config::short(seed, &fsync, &out),
        "long" => Config::long(seed, &fsync, &out),
        other => {
            eprintln!("CHAOS_MODE must be short or long, not {other:?}");
            std::process::exit(64);
        }
    };
    if let Ok(kinds) = std::env::var("CHAOS_FAULTS") {
        config.kinds = kinds
            .split(',')
            .map(|k| {
                chaos::nemesis::Fault::parse(k.trim()).unwrap_or_else(|| {
                    eprintln!("CHAOS_FAULTS: unknown fault {k:?}");
                    std::process::exit(64)
                })
            })
            .collect();
    }
    println!(
        "chaos: seed {seed}, appendfsync {fsync}, folder {}",
        out.display()
    );
    match taskmaster_tests::unless_stopped("chaos", chaos::run(config)).await {
        Ok(report) => {
            println!("{}", chaos::summary(&report));
            std::process::exit(if report.ok { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("chaos: the run could not be made: {e:#}");
            std::process::exit(2);
        }
    }
}
