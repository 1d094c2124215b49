//! The real binaries, run as child processes.

use std::collections::HashMap;
use std::time::Duration;

use hyper::StatusCode;
use taskmaster_tests::chaos::procs;
use taskmaster_tests::{ChildProcess, connect_pg, eventually, free_port, shared, unique};

fn env(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[tokio::test]
async fn syncd_applies_the_migrations_and_exits_0_on_sigterm() {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let mut syncd = ChildProcess::spawn(
        "taskmaster-syncd",
        &env(&[
            ("DATABASE_URL", url.clone()),
            ("REDIS_URL", shared.redis.url()),
            ("REDIS_KEY_PREFIX", format!("s{}:", unique())),
        ]),
    )
    .expect("syncd starts");

    let pg = connect_pg(&url).await.expect("connect");
    let tables = eventually(Duration::from_secs(20), || async {
        let rows = pg
            .query(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' ORDER BY 1",
                &[],
            )
            .await
            .ok()?;
        let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        names.contains(&"tasks".to_owned()).then_some(names)
    })
    .await
    .unwrap_or_else(|| panic!("the schema never appeared; syncd said:\n{}", syncd.output()));
    for table in [
        "users",
        "groups",
        "user_groups",
        "tasks",
        "refinery_schema_history",
    ] {
        assert!(
            tables.contains(&table.to_owned()),
            "{table} missing from {tables:?}"
        );
    }

    syncd.signal(libc::SIGTERM);
    let code = syncd.wait_for_exit(Duration::from_secs(15)).await;
    assert_eq!(code, Some(0), "syncd output:\n{}", syncd.output());
}

#[tokio::test]
async fn syncd_stops_promptly_on_sigterm_even_when_redis_and_postgres_are_unreachable() {
    let (dead_redis, dead_pg) = (free_port(), free_port());
    let mut syncd = ChildProcess::spawn(
        "taskmaster-syncd",
        &env(&[
            ("REDIS_URL", format!("redis://127.0.0.1:{dead_redis}")),
            (
                "DATABASE_URL",
                format!("postgres://x@127.0.0.1:{dead_pg}/x"),
            ),
            ("SHUTDOWN_GRACE", "2s".into()),
        ]),
    )
    .expect("syncd starts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    syncd.signal(libc::SIGTERM);
    let started = tokio::time::Instant::now();
    let code = syncd.wait_for_exit(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "syncd output:\n{}", syncd.output());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_schema_enforces_priorities_and_case_insensitive_emails() {
    let shared = shared().await;
    let db = shared.fresh_database().await.expect("database");
    let pg = connect_pg(&shared.postgres.url(&db))
        .await
        .expect("connect");
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    pg.execute(
        "INSERT INTO users (id, full_name, email, role, password_hash, created_at, updated_at) \
         VALUES (1, 'A', 'Ann@Example.com', 'user', $1, now(), now())",
        &[&hash],
    )
    .await
    .expect("first user");
    let dup = pg
        .execute(
            "INSERT INTO users (id, full_name, email, role, password_hash, created_at, updated_at) \
             VALUES (2, 'B', 'ann@example.COM', 'user', $1, now(), now())",
            &[&hash],
        )
        .await;
    assert!(dup.is_err(), "emails must be unique case-insensitively");
    let plaintext = pg
        .execute(
            "INSERT INTO users (id, full_name, email, role, password_hash, created_at, updated_at) \
             VALUES (3, 'C', 'c@example.com', 'user', 'plaintext', now(), now())",
            &[],
        )
        .await;
    assert!(plaintext.is_err(), "only argon2id hashes may be stored");
    pg.execute("INSERT INTO groups (id, name, admin_id, created_at, updated_at) VALUES (1, 'G', 1, now(), now())", &[])
        .await
        .expect("group");
    let bad_priority = pg
        .execute(
            "INSERT INTO tasks (id, title, priority, user_id, group_id, created_at, updated_at) \
             VALUES (1, 't', 4, 1, 1, now(), now())",
            &[],
        )
        .await;
    assert!(bad_priority.is_err(), "priority is checked to 1..3");
}

#[tokio::test]
async fn the_api_binary_serves_health_and_exits_0_on_sigterm() {
    let shared = shared().await;
    let port = free_port();
    let mut api = api_on(port, &shared.redis.url(), 3);
    let client = reqwest_like::Client::new();
    let status = eventually(Duration::from_secs(20), || async {
        client.get_status(port, "/health").await
    })
    .await
    .unwrap_or_else(|| panic!("the api never answered; it said:\n{}", api.output()));
    assert_eq!(status, StatusCode::OK);
    // Three shards, three sockets on the port; connections of their own
    // (a client each) land on any of them, and every one answers.
    let listening = eventually(Duration::from_secs(10), || async {
        let n = listening_sockets(port);
        (n == 3).then_some(n)
    })
    .await;
    assert_eq!(listening, Some(3), "one listening socket per shard");
    for _ in 0..12 {
        let status = reqwest_like::Client::new()
            .get_status(port, "/health")
            .await;
        assert_eq!(status, Some(StatusCode::OK));
    }
    assert!(
        api.output().contains("OWNER_PASSWORD"),
        "the default owner password must be warned about"
    );

    api.signal(libc::SIGTERM);
    let code = api.wait_for_exit(Duration::from_secs(15)).await;
    assert_eq!(code, Some(0), "api output:\n{}", api.output());
}

/// The api binary on 127.0.0.1:`port` with `shards` shards, on fresh keys
/// of the Redis at `redis_url`.
fn api_on(port: u16, redis_url: &str, shards: u32) -> ChildProcess {
    ChildProcess::spawn(
        "taskmaster-api",
        &env(&[
            ("SERVER_HOST", "127.0.0.1".into()),
            ("SERVER_PORT", port.to_string()),
            ("REDIS_URL", redis_url.to_owned()),
            ("REDIS_KEY_PREFIX", format!("b{}:", unique())),
            ("API_WORKER_THREADS", shards.to_string()),
        ]),
    )
    .expect("api starts")
}

/// Listening TCP sockets on 127.0.0.1:`port`, from /proc/net/tcp.
fn listening_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // State 0A is LISTEN.
            fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A")
        })
        .count()
}

#[tokio::test]
async fn the_api_binary_refuses_a_port_another_server_listens_on() {
    let shared = shared().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut api = api_on(port, &shared.redis.url(), 2);
    let code = api.wait_for_exit(Duration::from_secs(15)).await;
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit {code:?}: {}",
        api.output()
    );
    assert!(api.output().contains("cannot listen"), "{}", api.output());
    assert_eq!(listening_sockets(port), 1, "only the first server listens");
}

#[tokio::test]
async fn a_bad_configuration_exits_64_naming_every_bad_variable() {
    let mut api = ChildProcess::spawn(
        "taskmaster-api",
        &env(&[
            ("SERVER_PORT", "seventy".into()),
            ("REDIS_PORT", "0".into()),
            ("LOG_FORMAT", "xml".into()),
        ]),
    )
    .expect("api starts");
    assert_eq!(api.wait_for_exit(Duration::from_secs(10)).await, Some(64));
    let out = api.output();
    for name in ["SERVER_PORT", "REDIS_PORT", "LOG_FORMAT"] {
        assert!(out.contains(name), "{name} not reported in:\n{out}");
    }

    let mut syncd = ChildProcess::spawn(
        "taskmaster-syncd",
        &env(&[("SYNC_INTERVAL", "often".into())]),
    )
    .expect("syncd starts");
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(10)).await, Some(64));
    assert!(
        syncd.output().contains("SYNC_INTERVAL"),
        "{}",
        syncd.output()
    );
}

#[tokio::test]
async fn production_refuses_to_start_with_the_default_owner_password() {
    let mut api = ChildProcess::spawn("taskmaster-api", &env(&[("APP_ENV", "production".into())]))
        .expect("api starts");
    assert_eq!(api.wait_for_exit(Duration::from_secs(10)).await, Some(64));
    assert!(api.output().contains("OWNER_PASSWORD"), "{}", api.output());
}

/// A minimal HTTP client for talking to a child process.
mod reqwest_like {
    use http_body_util::Empty;
    use hyper::StatusCode;
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client as HyperClient;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    pub struct Client(HyperClient<HttpConnector, Empty<Bytes>>);

    impl Client {
        pub fn new() -> Self {
            Client(HyperClient::builder(TokioExecutor::new()).build(HttpConnector::new()))
        }

        pub async fn get_status(&self, port: u16, path: &str) -> Option<StatusCode> {
            let uri = format!("http://127.0.0.1:{port}{path}").parse().ok()?;
            self.0.get(uri).await.ok().map(|r| r.status())
        }
    }
}

#[tokio::test]
async fn the_fault_run_stopped_by_sigterm_stops_every_server_and_process_it_started() {
    let out = std::env::temp_dir().join(format!(
        "taskmaster-chaos-sigterm-{}-{}",
        std::process::id(),
        unique()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let mut vars = vec![
        ("CHAOS_MODE", "short".to_owned()),
        ("CHAOS_SEED", "1".to_owned()),
        ("CHAOS_FAULTS", "flush".to_owned()),
        ("CHAOS_OUT", out.display().to_string()),
    ];
    if let Ok(bin) = std::env::var("PG_BIN") {
        vars.push(("PG_BIN", bin));
    }
    let mut chaos = ChildProcess::spawn("chaos", &env(&vars)).expect("the fault run starts");
    let pid = chaos.pid() as u32;
    // Running: Redis, PostgreSQL, the api and both syncds below it.
    let up = eventually(Duration::from_secs(90), || async {
        let logs = ["api.log", "syncd-0.log", "syncd-1.log"];
        logs.iter().all(|l| out.join(l).exists()).then_some(())
    })
    .await;
    assert!(
        up.is_some(),
        "the run never came up; it said:\n{}",
        chaos.output()
    );
    let started = procs::tree(pid);
    assert!(started.len() > 5, "too few processes: {started:?}");

    chaos.signal(libc::SIGTERM);
    let code = chaos.wait_for_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(130), "the fault run said:\n{}", chaos.output());
    let alive = || -> Vec<u32> {
        started
            .iter()
            .copied()
            .filter(|p| procs::alive(*p))
            .collect()
    };
    let gone = eventually(Duration::from_secs(15), || async {
        alive().is_empty().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "still running after the run stopped: {:?}",
        alive()
    );
    let _ = std::fs::remove_dir_all(&out);
}
