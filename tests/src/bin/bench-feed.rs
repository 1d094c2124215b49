//! The live feed's load generator (run by `deploy/bench-feed.sh`, never by
//! the test suite). It seeds, straight into Redis through the api's own
//! scripts, 10 groups with an admin each and users spread over them; signs
//! every account in (`POST /auth/login`); connects one WebSocket per
//! account plus one as the owner (so each create reaches three clients:
//! its user, its group's admin, the owner); and reports:
//!
//! * create throughput without and with the clients (closed loop, rounds
//!   alternating: without, with, with, without);
//! * delivery latency from a create's acknowledgement to each client's
//!   receipt, p50 and p99, at a steady (open-loop) write rate;
//! * the api's resident memory per connection.
//!
//! Usage: `bench-feed <api base url> <owner password> <api pid> <redis url>
//! <key prefix> <clients> <writes per second> <seconds>`. Prints a JSON
//! report on stdout.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use taskmaster_api::store::Store;
use taskmaster_shared::domain::{Role, UserId};
use taskmaster_tests::bench;
use taskmaster_tests::chaos::procs::rss_kib;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const GROUPS: usize = 10;
const PASSWORD: &str = "bench-feed-password";
/// Concurrent writers of the closed-loop throughput runs.
const WRITERS: usize = 32;
const THROUGHPUT_SECONDS: u64 = 5;

type Http = Client<HttpConnector, Full<Bytes>>;

struct Api {
    base: String,
    http: Http,
}

#[derive(Clone)]
struct Account {
    id: u64,
    group: u64,
    bearer: String,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: &Value,
    ) -> (u16, Bytes) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = self.http.request(request).await.expect("the api answered");
        let status = response.status().as_u16();
        (
            status,
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes(),
        )
    }

    /// Creates a task as its user: its id and when the answer came.
    async fn create(&self, a: &Account) -> Option<(u64, Instant)> {
        let body = json!({"title": "feed bench", "group_id": a.group, "priority": 2});
        let (status, answer) = self
            .call(
                "POST",
                &format!("/users/{}/tasks", a.id),
                Some(&a.bearer),
                &body,
            )
            .await;
        let at = Instant::now();
        if status != 201 {
            return None;
        }
        let answer: Value = serde_json::from_slice(&answer).ok()?;
        Some((answer["data"]["task"]["id"].as_u64()?, at))
    }

    async fn login(&self, id: u64) -> String {
        let (status, answer) = self
            .call(
                "POST",
                "/auth/login",
                None,
                &json!({"login": id, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            status,
            200,
            "login {id}: {}",
            String::from_utf8_lossy(&answer)
        );
        let answer: Value = serde_json::from_slice(&answer).expect("JSON");
        format!(
            "Bearer {}",
            answer["data"]["access_token"].as_str().expect("a token")
        )
    }
}

/// Seeds the accounts through the api's scripts; (admins, users) with
/// their groups, not yet signed in.
async fn seed(store: &Store, users: usize) -> (Vec<(u64, u64)>, Vec<(u64, u64)>) {
    let hash = taskmaster_api::auth::argon2()
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
    let tag = std::process::id();
    let create = async |email: String, role: Role, groups: &[u64]| {
        bench::create_user(store, &email, "Feed Bench", role, &hash, groups).await
    };
    let mut admins = Vec::new();
    for g in 0..GROUPS {
        let admin = create(
            format!("feed-admin{g}-{tag}@example.com"),
            Role::GroupAdmin,
            &[],
        )
        .await;
        let group = store
            .create_group(&format!("feed {g} {tag}"), UserId(admin), &bench::now())
            .await
            .expect("redis")
            .expect("seed refused")
            .get();
        admins.push((admin, group));
    }
    let mut out = Vec::new();
    for u in 0..users {
        let group = admins[u % GROUPS].1;
        out.push((
            create(format!("feed{u}-{tag}@example.com"), Role::User, &[group]).await,
            group,
        ));
    }
    (admins, out)
}

/// Signs every account in, a few at a time (each login is one argon2).
async fn sign_in(api: &Arc<Api>, accounts: &[(u64, u64)]) -> Vec<Account> {
    let mut out = Vec::new();
    for chunk in accounts.chunks(8) {
        let logins = chunk.iter().map(|(id, group)| {
            let api = api.clone();
            let (id, group) = (*id, *group);
            async move {
                Account {
                    id,
                    group,
                    bearer: api.login(id).await,
                }
            }
        });
        out.extend(futures_util::future::join_all(logins).await);
    }
    out
}

/// One client's receipts: task id and when it arrived.
type Receipts = Arc<Mutex<Vec<(u64, Instant)>>>;

/// The id of a `task_created` message, read without parsing the whole
/// message (the load generator shares the api's cores).
fn created_id(text: &str) -> Option<u64> {
    if !text.contains(r#""type":"task_created""#) {
        return None;
    }
    let rest = &text[text.find(r#""data":{"id":"#)? + 13..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

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
                if let Some(id) = created_id(text.as_str()) {
                    local.push((id, Instant::now()));
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(_)) | None) => break,
        }
    }
    receipts.lock().await.extend(local);
}

/// CPU time a process has used, in clock ticks (10 ms).
fn cpu_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // After the command name, which may hold spaces: state is
            // field 3, utime and stime are fields 14 and 15.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// One closed-loop run: creates a second, and the api's and this load
/// generator's CPU per create (µs).
#[derive(Clone, Copy)]
struct Run {
    rate: f64,
    api_us: f64,
    generator_us: f64,
}

/// Creates as fast as `WRITERS` concurrent writers can.
async fn throughput(api: &Arc<Api>, writers: &[Account], api_pid: u32) -> Run {
    let (api0, own0) = (cpu_ticks(&api_pid.to_string()), cpu_ticks("self"));
    let rate = creates(api, writers).await;
    let (api1, own1) = (cpu_ticks(&api_pid.to_string()), cpu_ticks("self"));
    let n = rate * THROUGHPUT_SECONDS as f64;
    Run {
        rate,
        api_us: (api1 - api0) as f64 * 10_000.0 / n,
        generator_us: (own1 - own0) as f64 * 10_000.0 / n,
    }
}

async fn creates(api: &Arc<Api>, writers: &[Account]) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(THROUGHPUT_SECONDS);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (api, a, done) = (
            api.clone(),
            writers[w % writers.len()].clone(),
            done.clone(),
        );
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
    done.load(Ordering::Relaxed) as f64 / THROUGHPUT_SECONDS as f64
}

#[tokio::main]
#[allow(clippy::print_stdout)] // The report is this tool's output.
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [
        _,
        base,
        owner,
        pid,
        redis_url,
        prefix,
        clients,
        rate,
        seconds,
    ] = args.as_slice()
    else {
        eprintln!(
            "usage: bench-feed <api base url> <owner password> <api pid> <redis url> <key prefix> <clients> <writes per second> <seconds>"
        );
        std::process::exit(64);
    };
    let pid: u32 = pid.parse().expect("pid");
    let clients: usize = clients.parse().expect("clients");
    let rate: u64 = rate.parse().expect("rate");
    let seconds: u64 = seconds.parse().expect("seconds");
    let store = bench::store(redis_url, prefix, 4);
    let mut http = Client::builder(TokioExecutor::new());
    http.pool_max_idle_per_host(WRITERS * 4);
    let api = Arc::new(Api {
        base: base.clone(),
        http: http.build(HttpConnector::new()),
    });
    let users = clients.saturating_sub(GROUPS + 1).max(WRITERS);
    eprintln!("[bench-feed] seeding {GROUPS} groups and {users} users, signing them in");
    let (admins, users) = seed(&store, users).await;
    let admins = sign_in(&api, &admins).await;
    let users = sign_in(&api, &users).await;

    let without_1 = throughput(&api, &users, pid).await;
    eprintln!(
        "[bench-feed] without clients: {:.0} creates/s",
        without_1.rate
    );
    let rss_before = rss_kib(pid);

    // One client per account, and one as the owner.
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut receipts: Vec<(&'static str, Receipts)> = Vec::new();
    let mut connect_as = |who: &'static str, auth: (&'static str, String)| {
        let r: Receipts = Arc::default();
        receipts.push((who, r.clone()));
        handles.push(tokio::spawn(connect(base.clone(), auth, r, stop.clone())));
    };
    connect_as("owner", ("x-owner-password", owner.clone()));
    for a in &admins {
        connect_as("admin", ("authorization", a.bearer.clone()));
    }
    for u in &users {
        connect_as("user", ("authorization", u.bearer.clone()));
    }
    let connected = handles.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_with = rss_kib(pid);
    eprintln!("[bench-feed] {connected} clients connected");

    let with_1 = throughput(&api, &users, pid).await;
    eprintln!("[bench-feed] with clients: {:.0} creates/s", with_1.rate);

    // Steady load: `rate` creates a second, open loop, for `seconds`.
    eprintln!("[bench-feed] {rate} creates/s for {seconds} s");
    let acks: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let failures = Arc::new(AtomicU64::new(0));
    let total = rate * seconds;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut sent = Vec::with_capacity(total as usize);
    for n in 0..total {
        tokio::time::sleep_until((start + period.mul_f64(n as f64)).into()).await;
        let (api, a) = (api.clone(), users[n as usize % users.len()].clone());
        let (acks, failures) = (acks.clone(), failures.clone());
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
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let with_2 = throughput(&api, &users, pid).await;
    eprintln!("[bench-feed] with clients: {:.0} creates/s", with_2.rate);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let without_2 = throughput(&api, &users, pid).await;
    eprintln!(
        "[bench-feed] without clients: {:.0} creates/s",
        without_2.rate
    );

    let acks = acks.lock().await;
    let mut latencies = Vec::new();
    let mut owner_got = 0usize;
    for (who, r) in &receipts {
        for (id, at) in r.lock().await.iter() {
            if let Some(ack) = acks.get(id) {
                latencies.push(at.saturating_duration_since(*ack).as_secs_f64() * 1000.0);
                if *who == "owner" {
                    owner_got += 1;
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let mean = |a: Run, b: Run, f: fn(Run) -> f64| (f(a) + f(b)) / 2.0;
    let without = mean(without_1, without_2, |r| r.rate);
    let with = mean(with_1, with_2, |r| r.rate);
    let report = json!({
        "clients": connected,
        "steady": {"target_per_s": rate, "achieved_per_s": achieved, "seconds": seconds,
                   "failed": failures.load(Ordering::Relaxed)},
        "deliveries": latencies.len(),
        "expected_deliveries": acks.len() * 3,
        "owner_clients_complete": owner_got == acks.len(),
        "latency_ms": {"p50": bench::percentile(&latencies, 0.5), "p99": bench::percentile(&latencies, 0.99),
                       "max": latencies.last().copied().unwrap_or(0.0)},
        "throughput": {
            "without_clients": [without_1.rate, without_2.rate],
            "with_clients": [with_1.rate, with_2.rate],
            "with_over_without": with / without,
            "api_cpu_us_per_create": {"without": mean(without_1, without_2, |r| r.api_us),
                                      "with": mean(with_1, with_2, |r| r.api_us)},
            "generator_cpu_us_per_create": {"without": mean(without_1, without_2, |r| r.generator_us),
                                            "with": mean(with_1, with_2, |r| r.generator_us)},
        },
        "memory": {"rss_before_kib": rss_before, "rss_with_clients_kib": rss_with,
                   "per_connection_kib": rss_with.saturating_sub(rss_before) as f64 / connected as f64},
    });
    println!("{report}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_of_a_created_task_is_read_from_its_message() {
        let m = r#"{"id":"1-0","type":"task_created","data":{"id":42,"title":"x"},"actor":"3","at":"t"}"#;
        assert_eq!(created_id(m), Some(42));
        assert_eq!(created_id(&m.replace("created", "updated")), None);
    }
}
