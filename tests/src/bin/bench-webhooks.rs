//! The webhooks' load generator (run by `deploy/bench-webhooks.sh`, never
//! by the test suite). Against a running api and syncd, it registers
//! `hooks` global hooks (every `task.created`) pointing at a receiver of
//! its own on loopback, then:
//!
//! * **steady**: creates tasks at `rate` per second for `seconds` and
//!   measures, per delivery, the time from the create's acknowledgement to
//!   the receiver's receipt (p50, p99, max);
//! * **flood**: creates `flood` tasks as fast as 16 writers can, and
//!   measures deliveries per second from the first create to the last
//!   delivery.
//!
//! Usage: `bench-webhooks <api base url> <owner password> <hooks> <rate>
//! <seconds> <flood>`. Prints a JSON report on stdout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use taskmaster_tests::bench;
use taskmaster_tests::receiver::{Behaviour, Receiver};

type Http = Client<HttpConnector, Full<Bytes>>;

struct Api {
    base: String,
    owner: String,
    http: Http,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("x-owner-password", &self.owner)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let answer = self.http.request(request).await.expect("the api answers");
        let bytes = answer.into_body().collect().await.expect("body").to_bytes();
        serde_json::from_slice(&bytes).expect("JSON")
    }

    /// Creates a task for `user` in `group`; its id.
    async fn task(&self, user: u64, group: u64, n: usize) -> u64 {
        let answer = self
            .call(
                "POST",
                &format!("/users/{user}/tasks"),
                json!({"title": format!("t{n}"), "group_id": group}),
            )
            .await;
        answer["data"]["task"]["id"].as_u64().expect("a task id")
    }
}

#[tokio::main]
#[allow(clippy::print_stdout)] // The report is this tool's output.
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, owner, hooks, rate, seconds, flood] = args.as_slice() else {
        eprintln!(
            "usage: bench-webhooks <api url> <owner password> <hooks> <rate> <seconds> <flood>"
        );
        std::process::exit(64);
    };
    let (hooks, rate, seconds, flood): (usize, u64, u64, usize) = (
        hooks.parse().expect("hooks"),
        rate.parse().expect("rate"),
        seconds.parse().expect("seconds"),
        flood.parse().expect("flood"),
    );
    let api = Arc::new(Api {
        base: base.clone(),
        owner: owner.clone(),
        http: Client::builder(TokioExecutor::new()).build_http(),
    });
    let mut receiver = Receiver::start(Behaviour::default()).await;
    let admin = api
        .call("POST", "/users", json!({"full_name": "Bench Admin", "email": "bench-admin@example.com", "password": "bench-password", "role": "group_admin"}))
        .await["data"]["user"]["id"]
        .as_u64()
        .expect("admin");
    let group = api
        .call(
            "POST",
            "/groups",
            json!({"name": "Bench", "admin_id": admin}),
        )
        .await["data"]["group"]["id"]
        .as_u64()
        .expect("group");
    for _ in 0..hooks {
        let answer = api
            .call(
                "POST",
                "/webhooks",
                json!({"url": receiver.url("/in"), "events": ["task.created"]}),
            )
            .await;
        assert!(answer["success"] == true, "hook: {answer}");
    }

    // Steady: one create every 1/rate s, acknowledged times by task id.
    let acked: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let total = (rate * seconds) as usize;
    let started = Instant::now();
    let mut writers = Vec::new();
    for n in 0..total {
        let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (api, acked) = (api.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let id = api.task(admin, group, n).await;
            acked.lock().expect("acked").insert(id, Instant::now());
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let expected = total * hooks;
    let mut latencies = Vec::with_capacity(expected);
    let deadline = Instant::now() + Duration::from_secs(60);
    while latencies.len() < expected && Instant::now() < deadline {
        let Some(got) = receiver.next(Duration::from_secs(10)).await else {
            break;
        };
        let id = got.json()["data"]["id"].as_u64().unwrap_or(0);
        if let Some(at) = acked.lock().expect("acked").get(&id) {
            latencies.push(got.at.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
    }
    let steady_delivered = latencies.len();
    latencies.sort_by(f64::total_cmp);

    // Flood: as fast as 16 writers go; deliveries per second until the last.
    while receiver.next(Duration::from_millis(200)).await.is_some() {}
    let flood_started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..16 {
        let (api, next) = (api.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= flood {
                    break;
                }
                api.task(admin, group, n).await;
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let created_in = flood_started.elapsed();
    let flood_expected = flood * hooks;
    let mut flood_delivered = 0;
    let mut last = flood_started;
    while flood_delivered < flood_expected {
        let Some(got) = receiver.next(Duration::from_secs(10)).await else {
            break;
        };
        flood_delivered += 1;
        last = got.at;
    }
    let drained_in = last.saturating_duration_since(flood_started);
    println!(
        "{}",
        json!({
            "hooks": hooks,
            "steady": {
                "rate": rate, "seconds": seconds, "creates": total,
                "expected": expected, "delivered": steady_delivered,
                "p50_ms": bench::percentile(&latencies, 0.5), "p99_ms": bench::percentile(&latencies, 0.99),
                "max_ms": latencies.last().copied().unwrap_or(0.0),
            },
            "flood": {
                "creates": flood, "created_in_s": created_in.as_secs_f64(),
                "expected": flood_expected, "delivered": flood_delivered,
                "drained_in_s": drained_in.as_secs_f64(),
                "deliveries_per_s": flood_delivered as f64 / drained_in.as_secs_f64().max(1e-6),
            },
        })
    );
}
