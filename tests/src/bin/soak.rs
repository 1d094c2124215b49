//! The soak: `deploy/soak.sh` builds and runs it (see the README,
//! "Reliability"). Configuration from `SOAK_*` variables (see
//! `taskmaster_tests::soak::Config`): `SOAK_SECONDS` (3600), `SOAK_WARMUP`
//! (300), `SOAK_LOAD` (0.7 of the measured maximum), `SOAK_CLIENTS` (32),
//! `SOAK_FEEDS` (3), `SOAK_SAMPLE` (10 s), `SOAK_OUT` (`target/soak`).
//!
//! Exits 0 when every target is met, 1 when one is not (`summary.json`
//! says which), 2 when the run could not be made, 64 on bad settings,
//! 130 when stopped by SIGTERM or SIGINT (after stopping every server and
//! process it started).

use taskmaster_tests::soak::{self, Config};

#[tokio::main]
#[allow(clippy::print_stdout)] // The verdict is this tool's output.
async fn main() {
    let config = Config::from_env().unwrap_or_else(|bad| {
        for b in bad {
            eprintln!("{b}");
        }
        std::process::exit(64)
    });
    match taskmaster_tests::unless_stopped("soak", soak::run(&config)).await {
        Ok(summary) => {
            println!(
                "{} after {} s: {:.0} requests/s held (maximum {:.0}), {} errors",
                if summary.ok { "PASS" } else { "FAIL" },
                summary.seconds,
                summary.mean_rps,
                summary.max_rps,
                summary.errors
            );
            for v in &summary.verdicts {
                println!(
                    "  {} {}: {}",
                    if v.met { "ok  " } else { "MISS" },
                    v.target,
                    v.figure
                );
            }
            std::process::exit(if summary.ok { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("soak: the run could not be made: {e:#}");
            std::process::exit(2);
        }
    }
}
