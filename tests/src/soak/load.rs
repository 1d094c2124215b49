//! The soak's load: clients sending a realistic mix of reads and writes
//! (as users with their personal API tokens, and as the owner) at a paced
//! rate, each answer's latency and status counted in the current window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::json;

use crate::chaos::client::{As, Http};

/// One user the load acts as: its id, token, and a group it is in.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: u64,
    pub group: u64,
    pub token: String,
}

/// What one window of samples saw.
#[derive(Debug, Default)]
pub struct Window {
    /// Latencies of answered requests, in microseconds.
    pub micros: Vec<u32>,
    /// Answers 5xx, and requests with no answer.
    pub errors: u64,
    /// Answers 4xx a correct client does not expect (a 404 after a delete
    /// another client made is expected: counted apart).
    pub refused: u64,
}

impl Window {
    /// The `q` quantile (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        self.micros.sort_unstable();
        let i = ((self.micros.len() - 1) as f64 * q).round() as usize;
        f64::from(self.micros[i]) / 1000.0
    }
}

/// The shared state of every client.
pub struct Load {
    pub http: Http,
    pub owner: As,
    pub actors: Vec<Actor>,
    pub window: std::sync::Mutex<Window>,
    pub stop: AtomicBool,
}

/// The most tasks one client keeps of one user.
const OWN: usize = 4;

/// One request of the mix, chosen by weight (of 100): mostly reads, as on
/// a real server, and as many deletes as creates, so that the data stays
/// the same size for the hour (a first trial with more creates grew every
/// list, and with them p99).
fn pick(roll: u64) -> &'static str {
    match roll {
        0..=44 => "get",
        45..=59 => "list",
        60..=66 => "filter",
        67..=69 => "stats",
        70..=81 => "update",
        82..=87 => "create",
        88..=93 => "done",
        _ => "delete",
    }
}

impl Load {
    /// Sends requests until stopped, at most `per_sec` a second (0: as
    /// fast as answers come). `seed` varies the choices between clients.
    pub async fn client(self: Arc<Self>, seed: u64, per_sec: f64) {
        let mut rng = crate::chaos::Rng::new(seed);
        let gap = (per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / per_sec));
        let mut next = Instant::now();
        // Tasks this client made and may change or delete: (user, task).
        let mut mine: Vec<(usize, u64)> = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(gap) = gap {
                next += gap;
                let now = Instant::now();
                if next > now {
                    tokio::time::sleep(next - now).await;
                } else if now - next > Duration::from_secs(1) {
                    next = now; // fell behind: no burst to catch up
                }
            }
            let a = rng.below(self.actors.len() as u64) as usize;
            let actor = &self.actors[a];
            let who = As::Bearer(actor.token.clone());
            let tasks = format!("/users/{}/tasks", actor.user);
            let mut what = pick(rng.below(100));
            let own = mine.iter().position(|(u, _)| *u == a);
            let owned = mine.iter().filter(|(u, _)| *u == a).count();
            // Each client keeps between 1 and OWN tasks of each user: a
            // create past the bound deletes instead, and a read or write of
            // a user with none creates, so that creates and deletes stay
            // even and the data keeps its size for the hour.
            if own.is_none() {
                what = "create";
            } else if what == "create" && owned >= OWN {
                what = "delete";
            }
            let (method, path, body) = match what {
                "get" => {
                    let t = mine[own.unwrap_or(0)].1;
                    (Method::GET, format!("{tasks}/{t}"), None)
                }
                "list" => (Method::GET, tasks.clone(), None),
                "filter" => (
                    Method::GET,
                    format!("/tasks/filter?priority=2&user_id={}", actor.user),
                    None,
                ),
                "stats" => (Method::GET, format!("/groups/{}/stats", actor.group), None),
                "update" => {
                    let t = mine[own.unwrap_or(0)].1;
                    let body = json!({"title": format!("soak {}", rng.below(1_000_000)),
                                      "priority": 1 + rng.below(3)});
                    (Method::PUT, format!("{tasks}/{t}"), Some(body))
                }
                "done" => {
                    let t = mine[own.unwrap_or(0)].1;
                    (Method::PUT, format!("{tasks}/{t}/done"), None)
                }
                "delete" => {
                    let (_, t) = mine.swap_remove(own.unwrap_or(0));
                    (Method::DELETE, format!("{tasks}/{t}"), None)
                }
                _ => {
                    let body = json!({"title": format!("soak {}", rng.below(1_000_000)),
                                      "group_id": actor.group, "priority": 1 + rng.below(3),
                                      "information": "made by the soak"});
                    (Method::POST, tasks.clone(), Some(body))
                }
            };
            let started = Instant::now();
            let who = if what == "stats" {
                self.owner.clone()
            } else {
                who
            };
            let answer = self
                .http
                .json(method, &path, &who, body.as_ref(), "soak")
                .await;
            let took = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
            if what == "create"
                && answer.status == 201
                && let Some(id) = answer.data()["task"]["id"].as_u64()
            {
                mine.push((a, id));
            }
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            match answer.status {
                0 | 500..=599 => w.errors += 1,
                400..=499 => w.refused += 1,
                _ => w.micros.push(took),
            }
        }
    }
}
