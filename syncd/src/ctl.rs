//! `taskmaster-ctl`: the operator's command line for the control channel.
//!
//! ```text
//! taskmaster-ctl [--json] [--timeout 10m] status|force|backup
//! taskmaster-ctl [--json] [--timeout 10m] restore [--from FILE] [--discard-pending]
//! taskmaster-ctl migrate
//! ```
//!
//! It reads the same environment as the daemons (`REDIS_*`, `DATABASE_*`,
//! `BACKUP_DIR`; see the README), publishes one request on the control
//! channel and waits for syncd's single answer, showing the time elapsed
//! while it waits. `migrate` applies the migrations to PostgreSQL directly.
//!
//! Exit codes: 0 done; 1 syncd tried and failed; 2 refused, nothing changed;
//! 3 no syncd is running; 4 no answer in time; 64 bad usage or
//! configuration; 69 Redis or PostgreSQL unreachable.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, Command};
use serde_json::{Value, json};
use taskmaster_shared::config::{EXIT_BAD_CONFIG, SyncdConfig};
use taskmaster_shared::control::{self, Action, CallError, ControlReply, RestoreArgs};
use taskmaster_shared::keys::Keys;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_REFUSED: i32 = 2;
pub const EXIT_NO_DAEMON: i32 = 3;
pub const EXIT_TIMEOUT: i32 = 4;
pub const EXIT_UNAVAILABLE: i32 = 69;

fn command() -> Command {
    let timeout = Arg::new("timeout")
        .long("timeout")
        .value_name("DURATION")
        .help("how long to wait for syncd's answer (default 60s; 1h for backup and restore)");
    let json = Arg::new("json")
        .long("json")
        .action(ArgAction::SetTrue)
        .help("print the answer as JSON");
    Command::new("taskmaster-ctl")
        .about("Operate taskmaster's sync daemon over its control channel")
        .arg(json.global(true))
        .arg(timeout.global(true))
        .subcommand_required(true)
        .subcommand(Command::new("status").about("the active syncd's status"))
        .subcommand(Command::new("force").about("flush every pending change to PostgreSQL now"))
        .subcommand(
            Command::new("backup").about("flush, then write a backup file to BACKUP_DIR"),
        )
        .subcommand(
            Command::new("restore")
                .about("rebuild Redis from PostgreSQL (or from a backup file first)")
                .arg(
                    Arg::new("from")
                        .long("from")
                        .value_name("FILE")
                        .help("a backup file in BACKUP_DIR: load it into PostgreSQL first"),
                )
                .arg(
                    Arg::new("discard-pending")
                        .long("discard-pending")
                        .action(ArgAction::SetTrue)
                        .help("when pending changes cannot be flushed, save them to a file and drop them"),
                ),
        )
        .subcommand(Command::new("migrate").about("apply the database migrations"))
}

/// Runs the command line; returns the exit code.
pub async fn main(args: Vec<String>) -> i32 {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_BAD_CONFIG
            } else {
                EXIT_OK
            };
        }
    };
    let as_json = matches.get_flag("json");
    let Some((action, sub)) = matches.subcommand() else {
        return EXIT_BAD_CONFIG;
    };
    let config = match SyncdConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("taskmaster-ctl: {e}");
            return EXIT_BAD_CONFIG;
        }
    };
    let long = matches!(action, "backup" | "restore");
    let timeout = match matches.get_one::<String>("timeout") {
        Some(t) => match taskmaster_shared::duration::parse(t) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                eprintln!("taskmaster-ctl: --timeout: `{t}` is not a duration (30s, 10m, 1h)");
                return EXIT_BAD_CONFIG;
            }
        },
        None if long => Duration::from_secs(3600),
        None => Duration::from_secs(60),
    };
    if action == "migrate" {
        return migrate(config, as_json).await;
    }
    let mut restore = RestoreArgs::default();
    if action == "restore" {
        if let Some(from) = sub.get_one::<String>("from") {
            // syncd reads backups from its BACKUP_DIR only, so it is sent
            // the file's name. A path that exists here must be in that
            // directory: never restore a same-named file by mistake.
            let path = std::path::Path::new(from);
            if path.components().count() > 1
                && let Ok(file) = path.canonicalize()
                && file.parent() != config.backup_dir.canonicalize().ok().as_deref()
            {
                eprintln!(
                    "taskmaster-ctl: {from} is not in BACKUP_DIR ({}): copy it (and its .sha256) there first",
                    config.backup_dir.display()
                );
                return EXIT_BAD_CONFIG;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| from.clone());
            restore.from = Some(name);
        }
        restore.discard_pending = sub.get_flag("discard-pending");
    }
    let request_action = match action {
        "status" => Action::Status,
        "force" => Action::Force,
        "backup" => Action::Backup,
        "restore" => Action::Restore(restore),
        _ => return EXIT_BAD_CONFIG,
    };
    let started = Instant::now();
    let reply = match request(&config, request_action, timeout, as_json).await {
        Ok(reply) => reply,
        Err((code, message)) => {
            if as_json {
                println_json(&json!({"ok": false, "exit_code": code, "error": message}));
            } else {
                eprintln!("taskmaster-ctl: {message}");
            }
            return code;
        }
    };
    let code = if reply.ok {
        EXIT_OK
    } else if reply.refused {
        EXIT_REFUSED
    } else {
        EXIT_FAILED
    };
    if as_json {
        println_json(&json!({
            "ok": reply.ok, "exit_code": code, "action": action,
            "result": reply.result, "error": reply.error,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    } else if reply.ok {
        print_human(action, &reply.result);
    } else {
        eprintln!(
            "taskmaster-ctl: {action} {}: {}",
            if reply.refused { "refused" } else { "failed" },
            reply.error.as_deref().unwrap_or("no reason given")
        );
    }
    code
}

#[allow(clippy::print_stdout)] // The answer is this tool's output.
fn println_json(v: &Value) {
    println!("{v}");
}

#[allow(clippy::print_stdout)]
fn print_human(action: &str, r: &Value) {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    match action {
        "force" => println!(
            "flushed {} rows in {} ms (upserted users {}, groups {}, tasks {}; deleted users {}, groups {}, tasks {})",
            n(&r["rows"]),
            n(&r["duration_ms"]),
            n(&r["upserted"]["users"]),
            n(&r["upserted"]["groups"]),
            n(&r["upserted"]["tasks"]),
            n(&r["deleted"]["users"]),
            n(&r["deleted"]["groups"]),
            n(&r["deleted"]["tasks"]),
        ),
        "backup" => println!(
            "backup {} ({} bytes, sha256 {}): users {}, groups {}, memberships {}, tasks {}, api tokens {}{}",
            r["path"].as_str().unwrap_or("?"),
            n(&r["size_bytes"]),
            r["sha256"].as_str().unwrap_or("?"),
            n(&r["rows"]["users"]),
            n(&r["rows"]["groups"]),
            n(&r["rows"]["user_groups"]),
            n(&r["rows"]["tasks"]),
            n(&r["rows"]["api_tokens"]),
            match r["pruned"].as_array().map(Vec::len) {
                Some(0) | None => String::new(),
                Some(k) => format!("; {k} old backups removed"),
            }
        ),
        "restore" => {
            println!(
                "restored in {} ms: users {}, groups {}, memberships {}, tasks {}, api tokens {}",
                n(&r["duration_ms"]),
                n(&r["loaded"]["users"]),
                n(&r["loaded"]["groups"]),
                n(&r["loaded"]["memberships"]),
                n(&r["loaded"]["tasks"]),
                n(&r["loaded"]["tokens"]),
            );
            if let Some(file) = r["pre_restore_backup"].as_str() {
                println!("the data it replaced is in {file}");
            }
            if let Some(file) = r["discarded"]["file"].as_str() {
                println!(
                    "{} pending rows were discarded; they are saved in {file}",
                    n(&r["discarded"]["rows"])
                );
            }
        }
        _ => {
            let text = serde_json::to_string_pretty(r).unwrap_or_default();
            println!("{text}");
        }
    }
}

/// Publishes one request and waits for its answer; `Err` carries the exit
/// code and a message.
async fn request(
    config: &SyncdConfig,
    action: Action,
    timeout: Duration,
    quiet: bool,
) -> Result<ControlReply, (i32, String)> {
    let unavailable = |e: redis::RedisError| (EXIT_UNAVAILABLE, format!("redis: {e}"));
    let keys = Keys::new(config.redis.key_prefix.clone());
    let client = taskmaster_shared::redis_pool::client(&config.redis).map_err(unavailable)?;
    let mut conn = tokio::time::timeout(
        config.redis.connect_timeout * 2,
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| (EXIT_UNAVAILABLE, "redis: no answer".to_owned()))?
    .map_err(unavailable)?;
    let id = format!(
        "ctl-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let show_progress = !quiet && std::io::stderr().is_terminal();
    let name = action.name();
    let progress = |waited: Duration| {
        if show_progress && waited >= Duration::from_secs(1) {
            eprint!("\r{name}: waiting for syncd… {}s", waited.as_secs());
            let _ = std::io::stderr().flush();
        }
    };
    let secret = config.redis.control_secret.expose().as_bytes();
    let result = control::call(
        &client,
        &mut conn,
        &keys,
        (id, action),
        secret,
        timeout,
        progress,
    )
    .await;
    if show_progress {
        eprint!("\r\x1b[K");
    }
    result.map_err(|e| match e {
        CallError::Redis(e) => unavailable(e),
        CallError::NoDaemon => (
            EXIT_NO_DAEMON,
            "no syncd is running (nobody listens on the control channel)".into(),
        ),
        CallError::Closed => (EXIT_UNAVAILABLE, e.to_string()),
        CallError::TimedOut => (
            EXIT_TIMEOUT,
            format!(
                "no answer from syncd within {}; it may still be working: see `taskmaster-ctl status`",
                taskmaster_shared::duration::format_go(timeout)
            ),
        ),
    })
}

async fn migrate(config: SyncdConfig, as_json: bool) -> i32 {
    let syncd = match crate::Syncd::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("taskmaster-ctl: {e}");
            return EXIT_BAD_CONFIG;
        }
    };
    match syncd.migrate().await {
        Ok(applied) => {
            if as_json {
                println_json(&json!({"ok": true, "exit_code": 0, "applied": applied}));
            } else if applied.is_empty() {
                print_line("the schema is up to date");
            } else {
                print_line(&format!("applied: {}", applied.join(", ")));
            }
            EXIT_OK
        }
        Err(e) => {
            if as_json {
                println_json(
                    &json!({"ok": false, "exit_code": EXIT_UNAVAILABLE, "error": e.to_string()}),
                );
            } else {
                eprintln!("taskmaster-ctl: migrate: {e}");
            }
            EXIT_UNAVAILABLE
        }
    }
}

#[allow(clippy::print_stdout)]
fn print_line(s: &str) {
    println!("{s}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses_and_rejects_as_documented() {
        let m = command()
            .try_get_matches_from([
                "taskmaster-ctl",
                "restore",
                "--from",
                "x.gz",
                "--discard-pending",
                "--json",
            ])
            .expect("valid");
        let (name, sub) = m.subcommand().expect("subcommand");
        assert_eq!(name, "restore");
        assert_eq!(
            sub.get_one::<String>("from").map(String::as_str),
            Some("x.gz")
        );
        assert!(sub.get_flag("discard-pending"));
        assert!(m.get_flag("json"));
        assert!(command().try_get_matches_from(["taskmaster-ctl"]).is_err());
        assert!(
            command()
                .try_get_matches_from(["taskmaster-ctl", "explode"])
                .is_err()
        );
        assert!(
            command()
                .try_get_matches_from(["taskmaster-ctl", "force", "--from", "x"])
                .is_err()
        );
    }
}
