//! syncd's metrics, the status page's data, and the logs (issue 25): a
//! flush, a failed flush while PostgreSQL is down, a lag that grows and
//! shrinks, a backup and a restore each move their metrics; the status
//! data shows the same; JSON log lines parse with `jq` and carry the
//! request id and the flush id.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::Value;
use taskmaster_tests::metrics::{Metrics, fetch};
use taskmaster_tests::{
    Auth, ChildProcess, PostgresServer, TestApp, eventually, free_port, shared, spawn_app,
    spawn_app_with, spawn_child_api,
};

async fn scrape(addr: SocketAddr) -> Option<Metrics> {
    let (status, body) = fetch(addr, &[]).await;
    (status == 200).then(|| Metrics::parse(&body))
}

/// Waits until syncd's metrics satisfy `check`; panics with the last
/// scrape and syncd's log otherwise.
async fn until(
    addr: SocketAddr,
    syncd: &ChildProcess,
    what: &str,
    check: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let found = eventually(Duration::from_secs(60), || async {
        scrape(addr).await.filter(|m| check(m))
    })
    .await;
    if let Some(found) = found {
        return found;
    }
    let last = scrape(addr).await.map_or_else(String::new, |m| m.text);
    panic!(
        "syncd's metrics never showed {what}:\n{last}\n{}",
        syncd.output()
    )
}

async fn status_data(app: &TestApp) -> Value {
    let res = app
        .call(Method::GET, "/status/data", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["data"].clone()
}

async fn sync_action(app: &TestApp, action: &str) -> Value {
    let res = app
        .call(
            Method::POST,
            &format!("/admin/sync?action={action}"),
            &Auth::Owner,
            None,
        )
        .await;
    res.json()
}

const LAG: &str = "taskmaster_syncd_lag_seconds";
const PENDING: &str = "taskmaster_syncd_pending_rows";
const FLUSHES: &str = "taskmaster_syncd_flushes_total";

#[tokio::test]
async fn syncd_metrics_follow_flushes_a_postgres_outage_the_lag_backups_and_restores() {
    let shared = shared().await;
    let app = spawn_app_with(shared.redis.port, &[]).await;
    let mut postgres = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .expect("join")
        .expect("postgres starts");
    let url = postgres.url("postgres");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let listen = addr.to_string();
    // A backup folder of this run's own (the default one is per prefix,
    // and prefixes repeat across runs).
    let backups = std::env::temp_dir().join(format!(
        "tm-observability-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    ));
    let backup_dir = backups.display().to_string();
    // No scheduled flush during the test: flushes happen when asked.
    let env = app.syncd_env(
        &url,
        &[
            ("SYNC_INTERVAL", "1h"),
            ("DB_CONNECT_TIMEOUT", "1s"),
            ("SYNCD_METRICS_ADDR", &listen),
            ("LOG_FORMAT", "json"),
            ("BACKUP_DIR", &backup_dir),
        ],
    );
    let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");

    let m = until(addr, &syncd, "the lease", |m| {
        m.value("taskmaster_syncd_lease_held", &[]) == 1.0
    })
    .await;
    let token = m.value("taskmaster_syncd_fencing_token", &[]);
    assert!(token >= 1.0, "{}", m.text);
    assert_eq!(
        m.value("taskmaster_build_info", &[("process", "syncd")]),
        1.0
    );
    for (name, kind) in [
        (FLUSHES, "counter"),
        ("taskmaster_syncd_flush_operation_seconds", "histogram"),
        ("taskmaster_syncd_flush_rows", "histogram"),
        (PENDING, "gauge"),
        (LAG, "gauge"),
        ("taskmaster_changes_entries", "gauge"),
        ("taskmaster_changes_consumer_lag", "gauge"),
        ("taskmaster_redis_duration_seconds", "histogram"),
    ] {
        assert_eq!(m.kind(name).as_deref(), Some(kind), "{name}:\n{}", m.text);
    }
    let data = status_data(&app).await;
    assert_eq!(data["sync"]["fencing_token"].as_f64(), Some(token));
    assert!(data["sync"]["lease_holder"].is_string(), "{data}");
    assert_eq!(data["postgres"], "connected");

    // A change waits: the lag grows with every heartbeat, and the backlog
    // shows its type.
    let (_, g, u) = app.seed_team().await;
    app.seed_task(u.id, g, "waits for a flush").await;
    let first = until(addr, &syncd, "a lag", |m| {
        m.value(LAG, &[]) > 0.0 && m.value(PENDING, &[("type", "tasks")]) >= 1.0
    })
    .await;
    let grown = until(addr, &syncd, "a growing lag", |m| {
        m.value(LAG, &[]) >= first.value(LAG, &[]) + 1.5
    })
    .await;
    let shown = status_data(&app).await;
    assert!(
        shown["sync"]["lag_seconds"].as_f64() >= Some(first.value(LAG, &[])),
        "{shown}"
    );
    assert!(
        shown["sync"]["pending"]["tasks"].as_u64() >= Some(1),
        "{shown}"
    );

    // A flush: counted with its rows, and the lag and backlog go to 0.
    let flushed = sync_action(&app, "force").await;
    assert_eq!(flushed["success"], true, "{flushed}");
    let after = until(addr, &syncd, "the flush", |m| {
        m.value(LAG, &[]) == 0.0 && m.value(PENDING, &[("type", "tasks")]) == 0.0
    })
    .await;
    assert!(after.value(FLUSHES, &[("result", "ok")]) > grown.value(FLUSHES, &[("result", "ok")]));
    assert!(after.observations("taskmaster_syncd_flush_rows", &[("type", "tasks")]) >= 1.0);
    // Its time is measured, and so is a flush that finds nothing to write
    // (the time of looking), forced next.
    let took = |m: &Metrics| m.observed_sum("taskmaster_syncd_flush_operation_seconds", &[]);
    assert!(took(&after) > took(&grown), "{}", after.text);
    let idle = sync_action(&app, "force").await;
    assert_eq!(idle["data"]["rows"], 0, "{idle}");
    let looked = until(addr, &syncd, "the empty flush", |m| {
        m.value(FLUSHES, &[("result", "ok")]) > after.value(FLUSHES, &[("result", "ok")])
    })
    .await;
    assert!(took(&looked) > took(&after), "{}", looked.text);
    // The team's users, its group and the task, in the change log.
    assert!(
        after.value("taskmaster_changes_entries", &[]) >= 4.0,
        "{}",
        after.text
    );
    assert_eq!(status_data(&app).await["sync"]["lag_seconds"], 0.0);

    // PostgreSQL goes away: the flush fails and says why; the lag grows.
    postgres = tokio::task::spawn_blocking(move || {
        postgres.stop();
        postgres
    })
    .await
    .expect("join");
    app.seed_task(u.id, g, "written while PostgreSQL is down")
        .await;
    let _ = sync_action(&app, "force").await;
    until(addr, &syncd, "a failed flush", |m| {
        m.value(
            "taskmaster_syncd_flush_failures_total",
            &[("reason", "postgres")],
        ) >= 1.0
            && m.value(FLUSHES, &[("result", "error")]) >= 1.0
            && m.value(LAG, &[]) > 0.0
    })
    .await;
    postgres = tokio::task::spawn_blocking(move || {
        postgres.restart().expect("postgres restarts");
        postgres
    })
    .await
    .expect("join");
    // Once it is back, a flush gets through (the retries back off to a
    // minute: ask for one rather than wait).
    let written = eventually(Duration::from_secs(60), || async {
        (sync_action(&app, "force").await["success"] == true).then_some(())
    })
    .await;
    assert!(
        written.is_some(),
        "no flush after the outage:\n{}",
        syncd.output()
    );
    until(addr, &syncd, "the backlog written", |m| {
        m.value(LAG, &[]) == 0.0 && m.value(PENDING, &[]) == 0.0
    })
    .await;

    // A backup and a restore: their durations by result, and the backup
    // in the status data.
    let backup = sync_action(&app, "backup").await;
    assert_eq!(backup["success"], true, "{backup}");
    let restore = sync_action(&app, "restore").await;
    assert_eq!(restore["success"], true, "{restore}");
    let m = until(addr, &syncd, "the backup and the restore", |m| {
        m.observations(
            "taskmaster_syncd_backup_operation_seconds",
            &[("result", "ok")],
        ) == 1.0
            && m.observations(
                "taskmaster_syncd_restore_operation_seconds",
                &[("result", "ok")],
            ) == 1.0
    })
    .await;
    assert!(m.value("taskmaster_syncd_last_backup_timestamp_seconds", &[]) > 1.7e9);
    let mut shown = Value::Null;
    for _ in 0..50 {
        shown = status_data(&app).await;
        if shown["backups"].as_array().map(Vec::len) == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        shown["backups"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
    assert!(
        shown["backups"][0]["size_bytes"].as_u64() > Some(0),
        "{shown}"
    );

    // Refused through a proxy, as the api's.
    let (status, _) = fetch(addr, &[("X-Forwarded-For", "203.0.113.9")]).await;
    assert_eq!(status, 403);

    // Its flush log lines carry the flush id and counts, in JSON that jq
    // reads.
    let flushed = jq_lines(
        &syncd.output(),
        r#"select(.message == "flushed") | [.span["flush.id"], .span["flush.number"], .["flush.tasks"]] | map(tostring) | join(" ")"#,
    );
    assert!(!flushed.is_empty(), "no flush line:\n{}", syncd.output());
    for line in &flushed {
        let parts: Vec<&str> = line.split(' ').collect();
        assert!(parts.iter().all(|p| p.parse::<u64>().is_ok()), "{line}");
    }
    drop(postgres);
    let _ = std::fs::remove_dir_all(&backups);
}

/// The lines of `log` that are JSON objects, run through `jq -r filter`
/// (as a log collector would read them); panics when jq refuses one.
fn jq_lines(log: &str, filter: &str) -> Vec<String> {
    use std::io::Write;
    let json: String = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut jq = std::process::Command::new("jq")
        .args(["-r", filter])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("jq runs (dev.sh installs it)");
    jq.stdin
        .take()
        .expect("stdin")
        .write_all(json.as_bytes())
        .expect("write to jq");
    let out = jq.wait_with_output().expect("jq ends");
    assert!(
        out.status.success(),
        "jq refused the log: {}\n{json}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `GET /health` sent with `X-Request-Id: id`.
async fn health_with_id(app: &TestApp, id: &str) -> taskmaster_tests::TestResponse {
    app.request(Method::GET, "/health", &[("X-Request-Id", id)], "")
        .await
}

#[tokio::test]
async fn a_json_log_line_is_one_object_jq_reads_with_the_request_id_in_its_span() {
    let (api, app) =
        spawn_child_api(&[("LOG_FORMAT", "json"), ("RUST_LOG", "taskmaster_api=debug")]).await;
    let res = health_with_id(&app, "trace-me-4711").await;
    assert_eq!(res.header("x-request-id"), Some("trace-me-4711"));
    let found = eventually(Duration::from_secs(10), || async {
        let lines = jq_lines(
            &api.output(),
            r#"select(.span.request_id == "trace-me-4711") | [.level, .span["http.route"], (.span["http.status_code"] | tostring)] | join(" ")"#,
        );
        lines.into_iter().find(|l| l.ends_with(" 200"))
    })
    .await;
    assert_eq!(
        found.as_deref(),
        Some("DEBUG /health 200"),
        "{}",
        api.output()
    );
}

#[tokio::test]
async fn a_request_id_is_kept_from_a_trusted_proxy_only() {
    // Loopback is trusted by default (nginx on the same machine).
    let app = spawn_app().await;
    let res = health_with_id(&app, "from-nginx-1").await;
    assert_eq!(res.header("x-request-id"), Some("from-nginx-1"));
    // Nobody trusted: every request gets an id of the api's own.
    let strict = spawn_app_with(shared().await.redis.port, &[("TRUSTED_PROXIES", "none")]).await;
    let res = health_with_id(&strict, "from-nginx-1").await;
    let given = res.header("x-request-id").expect("an id");
    assert_ne!(given, "from-nginx-1");
    assert!(given.len() >= 10, "{given}");
}
