//! The live feed's load generator (run by `deploy/bench-feed.sh`, never by
//! the test suite): connects WebSocket clients spread over users, group
//! admins and the owner, drives task creates, and reports:
//!
//! * create throughput without and with the clients (closed loop, rounds
//!   alternating: without, with, with, without);
//! * delivery latency from a create's acknowledgement to each client's
//!   receipt, p50 and p99, at a steady (open-loop) write rate;
//! * the api's resident memory per connection.
//!
//! Usage: `bench-feed <api base url> <owner password> <api pid> <clients>
//! <writes per second> <seconds>`. Seeds its own groups and users through
//! the api. Prints a JSON report on stdout.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const GROUPS: usize = 10;
const USERS_PER_GROUP: usize = 10;
const PASSWORD: &str = "bench-feed-password";
/// Concurrent writers of the closed-loop throughput runs.
const WRITERS: usize = 32;

type Http = Client<HttpConnector, Full<Bytes>>;

struct Api {
    base: String,
    owner: String,
    http: Http,
}

#[derive(Clone)]
struct Account {
    id: u64,
    group: u64,
    basic: String,
}

fn basic(id: u64) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{PASSWORD}"))
    )
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: (&str, &str),
        body: Value,
    ) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(auth.0, auth.1)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = self.http.request(request).await.expect("the api answered");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn as_owner(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self
            .call(method, path, ("x-owner-password", &self.owner), body)
            .await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// Creates a task as its user: its id and when the answer came.
    async fn create(&self, a: &Account) -> Option<(u64, Instant)> {
        let (status, answer) = self
            .call(
                "POST",
                &format!("/users/{}/tasks", a.id),
                ("authorization", &a.basic),
                json!({"title": "feed bench", "group_id": a.group, "priority": 2}),
            )
            .await;
        let at = Instant::now();
        (status == 201).then(|| (answer["data"]["task"]["id"].as_u64().unwrap_or(0), at))
    }
}

/// Groups with an admin each, and users in them.
async fn seed(api: &Api) -> (Vec<Account>, Vec<Account>) {
    let tag = std::process::id();
    let mut admins = Vec::new();
    let mut users = Vec::new();
    for g in 0..GROUPS {
        let admin = api
            .as_owner(
                "POST",
                "/users",
                json!({"full_name": "admin", "email": format!("a{g}-{tag}@bench.io"), "password": PASSWORD, "role": "group_admin"}),
            )
            .await["data"]["user"]["id"]
            .as_u64()
            .expect("admin id");
        let group = api
            .as_owner(
                "POST",
                "/groups",
                json!({"name": format!("feed-{tag}-{g}"), "admin_id": admin}),
            )
            .await["data"]["group"]["id"]
            .as_u64()
            .expect("group id");
        admins.push(Account {
            id: admin,
            group,
            basic: basic(admin),
        });
        for u in 0..USERS_PER_GROUP {
            let id = api
                .as_owner(
                    "POST",
                    "/users",
                    json!({"full_name": "user", "email": format!("u{g}-{u}-{tag}@bench.io"), "password": PASSWORD, "group_ids": [group]}),
                )
                .await["data"]["user"]["id"]
                .as_u64()
                .expect("user id");
            users.push(Account {
                id,
                group,
                basic: basic(id),
            });
        }
    }
    (admins, users)
}

/// One client's receipts: task id and when it arrived.
type Receipts = Arc<Mutex<Vec<(u64, Instant)>>>;

async fn connect(
    base: String,
    auth: (&'static str, String),
    receipts: Receipts,
    stop: Arc<AtomicBool>,
) {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        hyper::header::HeaderName::from_static(auth.0),
        auth.1.parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket opened");
    let mut local = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let at = Instant::now();
                if let Ok(m) = serde_json::from_str::<Value>(text.as_str())
                    && m["type"] == "task_created"
                    && let Some(id) = m["data"]["id"].as_u64()
                {
                    local.push((id, at));
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(_)) | None) => break,
        }
    }
    receipts.lock().await.extend(local);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// Creates as fast as `WRITERS` concurrent writers can for `seconds`.
async fn throughput(api: &Arc<Api>, writers: &[Account], seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let api = api.clone();
        let a = writers[w % writers.len()].clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if api.create(&a).await.is_some() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
#[allow(clippy::print_stdout)] // The report is this tool's output.
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, owner, pid, clients, rate, seconds] = args.as_slice() else {
        eprintln!(
            "usage: bench-feed <api base url> <owner password> <api pid> <clients> <writes per second> <seconds>"
        );
        std::process::exit(64);
    };
    let pid: u32 = pid.parse().expect("pid");
    let clients: usize = clients.parse().expect("clients");
    let rate: u64 = rate.parse().expect("rate");
    let seconds: u64 = seconds.parse().expect("seconds");
    let mut http = Client::builder(TokioExecutor::new());
    http.pool_max_idle_per_host(WRITERS * 4);
    let api = Arc::new(Api {
        base: base.clone(),
        owner: owner.clone(),
        http: http.build(HttpConnector::new()),
    });
    eprintln!("[bench-feed] seeding {GROUPS} groups of {USERS_PER_GROUP} users");
    let (admins, users) = seed(&api).await;
    // Every writer's first request pays argon2 once, outside the runs.
    for a in users.iter().chain(&admins) {
        api.create(a).await;
    }

    let throughput_seconds = 5;
    let without_1 = throughput(&api, &users, throughput_seconds).await;
    eprintln!("[bench-feed] without clients: {without_1:.0} creates/s");
    let rss_before = rss_kib(pid);

    // Clients: a tenth as the owner, a tenth as group admins, the rest as
    // users, spread evenly.
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut receipts: Vec<(String, Receipts)> = Vec::new();
    for c in 0..clients {
        let (who, auth): (String, (&'static str, String)) = match c % 10 {
            0 => ("owner".into(), ("x-owner-password", owner.clone())),
            1 => {
                let a = &admins[(c / 10) % admins.len()];
                (
                    format!("admin {}", a.id),
                    ("authorization", a.basic.clone()),
                )
            }
            _ => {
                let u = &users[(c / 10 * 8 + c % 10) % users.len()];
                (format!("user {}", u.id), ("authorization", u.basic.clone()))
            }
        };
        let r: Receipts = Arc::default();
        receipts.push((who, r.clone()));
        handles.push(tokio::spawn(connect(base.clone(), auth, r, stop.clone())));
        if c % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_with = rss_kib(pid);
    eprintln!("[bench-feed] {clients} clients connected");

    let with_1 = throughput(&api, &users, throughput_seconds).await;
    eprintln!("[bench-feed] with clients: {with_1:.0} creates/s");

    // Steady load: `rate` creates a second, open loop, for `seconds`.
    eprintln!("[bench-feed] {rate} creates/s for {seconds} s");
    let acks: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let start = Instant::now();
    let total = rate * seconds;
    let mut sent = Vec::with_capacity(total as usize);
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let steady_from = Instant::now();
    let mut failed = 0u64;
    let failures = Arc::new(AtomicU64::new(0));
    for n in 0..total {
        let due = start + period * n as u32;
        tokio::time::sleep_until(due.into()).await;
        let api = api.clone();
        let a = users[n as usize % users.len()].clone();
        let acks = acks.clone();
        let failures = failures.clone();
        sent.push(tokio::spawn(async move {
            match api.create(&a).await {
                Some((id, at)) => {
                    acks.lock().await.insert(id, at);
                }
                None => {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for s in sent {
        let _ = s.await;
    }
    let achieved = total as f64 / steady_from.elapsed().as_secs_f64();
    failed += failures.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let with_2 = throughput(&api, &users, throughput_seconds).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let without_2 = throughput(&api, &users, throughput_seconds).await;

    let acks = acks.lock().await;
    let mut latencies = Vec::new();
    let mut owner_got = 0usize;
    for (who, r) in &receipts {
        let r = r.lock().await;
        for (id, at) in r.iter() {
            if let Some(ack) = acks.get(id) {
                latencies.push(at.saturating_duration_since(*ack).as_secs_f64() * 1000.0);
                if who == "owner" {
                    owner_got += 1;
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let owners = receipts.iter().filter(|(w, _)| w == "owner").count();
    let without = (without_1 + without_2) / 2.0;
    let with = (with_1 + with_2) / 2.0;
    let report = json!({
        "clients": clients,
        "steady": {"target_per_s": rate, "achieved_per_s": achieved, "seconds": seconds, "failed": failed},
        "deliveries": latencies.len(),
        "owner_clients_complete": owner_got == owners * acks.len(),
        "latency_ms": {"p50": percentile(&latencies, 0.5), "p99": percentile(&latencies, 0.99), "max": latencies.last().copied().unwrap_or(0.0)},
        "throughput": {
            "without_clients": [without_1, without_2],
            "with_clients": [with_1, with_2],
            "with_over_without": with / without,
        },
        "memory": {"rss_before_kib": rss_before, "rss_with_clients_kib": rss_with, "per_connection_kib": (rss_with.saturating_sub(rss_before)) as f64 / clients as f64},
    });
    println!("{report}");
}
