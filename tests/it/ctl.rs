//! The operator CLI (`taskmaster-ctl`) as a process, and the daemons'
//! systemd notifications.

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::Value;
use taskmaster_tests::{Auth, ChildProcess, TestApp, binary_path, eventually, shared, spawn_app};

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

async fn ctl(env: &HashMap<String, String>, args: &[&str]) -> Ran {
    let out = tokio::process::Command::new(binary_path("taskmaster-ctl"))
        .args(args)
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .await
        .expect("run taskmaster-ctl");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn database(app: &TestApp) -> (String, HashMap<String, String>) {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let env = app.syncd_env(&url, &[("SYNC_INTERVAL", "1h")]);
    (url, env)
}

#[tokio::test]
async fn the_cli_reports_each_outcome_with_its_exit_code() {
    let app = spawn_app().await;
    let (_url, env) = database(&app).await;

    // Usage and configuration errors: 64.
    assert_eq!(ctl(&env, &[]).await.code, 64);
    assert_eq!(ctl(&env, &["explode"]).await.code, 64);
    assert_eq!(ctl(&env, &["force", "--timeout", "soon"]).await.code, 64);
    let mut bad = env.clone();
    bad.insert("REDIS_PORT".into(), "not-a-port".into());
    bad.remove("REDIS_URL");
    assert_eq!(ctl(&bad, &["status"]).await.code, 64);
    // No daemon: 3.
    let ran = ctl(&env, &["force", "--json"]).await;
    assert_eq!(ran.code, 3, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(ran.json()["ok"], false);
    // `migrate` needs no daemon.
    let ran = ctl(&env, &["migrate", "--json"]).await;
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.json()["applied"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd");
    let up = eventually(Duration::from_secs(20), || async {
        (ctl(&env, &["status"]).await.code == 0).then_some(())
    })
    .await;
    assert!(up.is_some(), "syncd never answered:\n{}", syncd.output());
    let u = app.seed_user("user", &[]).await;

    let ran = ctl(&env, &["force", "--json"]).await;
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    // The owner went in with the flush syncd makes as it becomes active.
    assert_eq!(
        ran.json()["result"]["upserted"]["users"],
        1,
        "{}",
        ran.stdout
    );
    let ran = ctl(&env, &["force"]).await;
    assert_eq!(ran.code, 0);
    assert!(ran.stdout.starts_with("flushed 0 rows"), "{}", ran.stdout);

    let ran = ctl(&env, &["backup", "--json"]).await;
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let path = ran.json()["result"]["path"]
        .as_str()
        .expect("path")
        .to_owned();
    assert!(std::path::Path::new(&path).is_file(), "{path}");

    // Refused, nothing changed: 2.
    let ran = ctl(&env, &["restore", "--from", "no-such-backup.gz"]).await;
    assert_eq!(ran.code, 2, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("refused"), "{}", ran.stderr);

    // A file elsewhere is refused by the CLI itself.
    let elsewhere = std::env::temp_dir().join(format!(
        "tm-elsewhere-{}.backup.gz",
        taskmaster_tests::unique()
    ));
    std::fs::copy(&path, &elsewhere).expect("copy");
    let ran = ctl(
        &env,
        &["restore", "--from", &elsewhere.display().to_string()],
    )
    .await;
    let _ = std::fs::remove_file(&elsewhere);
    assert_eq!(ran.code, 64, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("BACKUP_DIR"), "{}", ran.stderr);

    // A restore from the backup (by path: the CLI sends the file name).
    let ran = ctl(&env, &["restore", "--from", &path]).await;
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.starts_with("restored in"), "{}", ran.stdout);
    // At once: the api looks at the flag again before refusing anything.
    let res = app
        .call(Method::GET, &format!("/users/{}", u.id), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    // A paused daemon: no answer in time, 4.
    syncd.signal(libc::SIGSTOP);
    let ran = ctl(&env, &["status", "--timeout", "1s"]).await;
    syncd.signal(libc::SIGCONT);
    assert_eq!(ran.code, 4, "{}{}", ran.stdout, ran.stderr);
}

/// Reads every datagram the process sends to its NOTIFY_SOCKET until
/// `want` has arrived (or the time is up).
fn notifications(socket: &UnixDatagram, want: &[&str], limit: Duration) -> String {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit && !want.iter().all(|w| seen.contains(w)) {
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
    }
    seen
}

#[tokio::test]
async fn both_daemons_tell_systemd_when_they_are_ready_and_feed_its_watchdog() {
    let app = spawn_app().await;
    let (_url, mut env) = database(&app).await;
    let dir = std::env::temp_dir().join(format!("tm-notify-{}", taskmaster_tests::unique()));
    std::fs::create_dir_all(&dir).expect("dir");

    let syncd_socket_path = dir.join("syncd.sock");
    let syncd_socket = UnixDatagram::bind(&syncd_socket_path).expect("bind");
    env.insert(
        "NOTIFY_SOCKET".into(),
        syncd_socket_path.display().to_string(),
    );
    env.insert("WATCHDOG_USEC".into(), "10000000".into());
    let mut syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd");
    let seen = tokio::task::spawn_blocking(move || {
        notifications(
            &syncd_socket,
            &["READY=1", "WATCHDOG=1"],
            Duration::from_secs(20),
        )
    })
    .await
    .expect("join");
    assert!(
        seen.contains("READY=1"),
        "syncd: {seen}\n{}",
        syncd.output()
    );
    assert!(seen.contains("WATCHDOG=1"), "syncd: {seen}");

    let api_socket_path = dir.join("api.sock");
    let api_socket = UnixDatagram::bind(&api_socket_path).expect("bind");
    let port = taskmaster_tests::free_port();
    let api_env: HashMap<String, String> = [
        ("REDIS_URL", app.redis_url.clone()),
        ("REDIS_KEY_PREFIX", app.keys.prefix().to_owned()),
        ("SERVER_HOST", "127.0.0.1".to_owned()),
        ("SERVER_PORT", port.to_string()),
        ("NOTIFY_SOCKET", api_socket_path.display().to_string()),
        ("WATCHDOG_USEC", "1000000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut api = ChildProcess::spawn("taskmaster-api", &api_env).expect("api");
    let seen = tokio::task::spawn_blocking(move || {
        notifications(
            &api_socket,
            &["READY=1", "WATCHDOG=1"],
            Duration::from_secs(20),
        )
    })
    .await
    .expect("join");
    assert!(seen.contains("READY=1"), "api: {seen}\n{}", api.output());
    assert!(seen.contains("WATCHDOG=1"), "api: {seen}");
    // READY means serving: the port answers.
    let health = reqwest_like_get(port).await;
    assert!(health.contains("200"), "{health}");

    api.signal(libc::SIGTERM);
    syncd.signal(libc::SIGTERM);
    assert_eq!(api.wait_for_exit(Duration::from_secs(15)).await, Some(0));
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(30)).await, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The status line of `GET /health` on a local port.
async fn reqwest_like_get(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out.lines().next().unwrap_or_default().to_owned()
}
