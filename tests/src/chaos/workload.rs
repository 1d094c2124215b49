//! The clients: each owns a domain (a group admin, its groups, their users,
//! tasks, personal tokens and webhooks) that no other client touches, and
//! sends one write at a time into it, chosen by its own seeded generator.
//! So a row's writes are ordered by the one client that sends them, and
//! what it was answered is what the row must end as ([`super::model`]).
//!
//! Every write is recorded with its answer. Creates carry an
//! `Idempotency-Key` and are retried while they get no answer, as a
//! careful client does; a create that never gets one leaves its marker
//! (the title, e-mail or name) for the checker, which counts the row if it
//! appears.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;
use tokio::sync::mpsc;

use super::Rng;
use super::client::{Answer, As, Http, Outcome};
use super::history::{Ledger, Record};
use super::model::{Kind, Model};

/// What every client shares.
pub struct Shared {
    pub http: Http,
    pub owner: As,
    pub started: Instant,
    pub history: mpsc::UnboundedSender<Record>,
    pub ledger: Ledger,
    pub next_op: AtomicU64,
    pub acked: AtomicU64,
    pub stop: AtomicBool,
    /// Stop after this many acknowledged writes (0: only `stop`).
    pub target_writes: u64,
    /// Bumped after a Redis kill that may have lost writes: every client
    /// reads its domain back and counts what is gone.
    pub resync: tokio::sync::watch::Sender<u64>,
    /// (ms of the kill, rows found lost by the resync after it).
    pub losses: std::sync::Mutex<Vec<Loss>>,
    /// Set from a Redis kill until syncd has checked the restarted server.
    /// Meanwhile the api serves reads from what the append-only file kept,
    /// which the check's rebuild may then replace with PostgreSQL's newer
    /// rows: a read-back waits, so that what it takes as the truth stays.
    pub recovering: AtomicBool,
    /// Counts Redis kills: a read in flight across a kill may have been
    /// answered by the restarted server before its check, so it is asked
    /// again.
    pub redis_kills: AtomicU64,
}

/// A row a resync found different from its acknowledged state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Loss {
    pub client: usize,
    pub kind: Kind,
    pub id: String,
    /// The write whose result was lost, and how long before the resync it
    /// was answered (ms).
    pub op: u64,
    pub answered_ms: u64,
    pub resync_ms: u64,
}

impl Shared {
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Waits (at most two minutes) while Redis is being recovered.
    pub async fn recovered(&self) {
        let deadline = Instant::now() + std::time::Duration::from_secs(120);
        while self.recovering.load(Ordering::Relaxed) && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn done(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || (self.target_writes > 0 && self.acked.load(Ordering::Relaxed) >= self.target_writes)
    }
}

/// A regular user of the domain.
#[derive(Debug, Clone, Default)]
pub struct Member {
    pub groups: BTreeSet<u64>,
}

/// What a client believes its domain holds, to choose its next write.
#[derive(Debug, Default)]
pub struct Domain {
    pub admin: u64,
    pub groups: BTreeSet<u64>,
    pub users: BTreeMap<u64, Member>,
    /// task id → (user, group)
    pub tasks: BTreeMap<u64, (u64, u64)>,
    /// token id → user
    pub tokens: BTreeMap<String, u64>,
    /// webhook id → group
    pub hooks: BTreeMap<u64, u64>,
}

/// One client.
pub struct Worker {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub rng: Rng,
    pub model: Model,
    pub domain: Domain,
    pub password: String,
    /// Counts markers (titles, names) so each is unique in the run.
    pub marks: u64,
    /// Writes answered 4xx though the model expected them to pass: (when
    /// answered, ms; what).
    pub unexpected: Vec<(u64, String)>,
    pub max_tasks: usize,
}

/// One write's record, for the op methods.
pub struct Sent {
    pub op: u64,
    pub t0: u64,
    pub t1: u64,
    pub answer: Answer,
}

impl Worker {
    pub fn new(id: usize, shared: Arc<Shared>, seed: u64, max_tasks: usize) -> Worker {
        Worker {
            id,
            shared,
            rng: Rng::new(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            model: Model::default(),
            domain: Domain::default(),
            password: format!("chaos-password-{id}-{seed:x}"),
            marks: 0,
            unexpected: Vec::new(),
            max_tasks,
        }
    }

    pub fn mark(&mut self, what: &str) -> String {
        self.marks += 1;
        format!("c{}-{what}{}", self.id, self.marks)
    }

    pub fn admin(&self) -> As {
        As::Basic(self.domain.admin, self.password.clone())
    }

    pub fn user(&self, id: u64) -> As {
        As::Basic(id, self.password.clone())
    }

    /// Sends one write and records it.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &mut self,
        what: &'static str,
        audited: bool,
        method: Method,
        path: String,
        who: &As,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, String)],
    ) -> Sent {
        let op = self.shared.next_op.fetch_add(1, Ordering::Relaxed) + 1;
        let t0 = self.shared.now_ms();
        let answer = self
            .shared
            .http
            .send(
                method.clone(),
                &path,
                who,
                body,
                headers,
                &format!("chaos-{op}"),
            )
            .await;
        let t1 = self.shared.now_ms();
        let outcome = answer.outcome();
        if outcome == Outcome::Ok {
            self.shared.acked.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.ledger.write(op, outcome, what, audited);
        self.shared.ledger.answered(op, t0, t1);
        let _ = self.shared.history.send(Record {
            op,
            client: self.id,
            what,
            method: method_name(&method),
            path,
            t0,
            t1,
            status: answer.status,
            outcome,
            answer: if answer.body.is_null() {
                Value::String(answer.text.clone())
            } else {
                answer.body.clone()
            },
        });
        Sent { op, t0, t1, answer }
    }

    pub async fn send_json(
        &mut self,
        what: &'static str,
        method: Method,
        path: String,
        who: &As,
        body: Option<Value>,
    ) -> Sent {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(what, true, method, path, who, body, &[]).await
    }

    /// Sends one write, and sends it again (at most 6 times in all,
    /// backing off) while `again` says its answer leaves it in doubt, as a
    /// careful client does. `again` is told, with each answer, whether any
    /// attempt so far went unanswered (it may have run: a 503 after one
    /// says nothing about it). Answers the last attempt, the ops of the
    /// earlier ones, and whether any attempt went unanswered.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_while(
        &mut self,
        what: &'static str,
        method: Method,
        path: String,
        who: &As,
        body: Option<(&'static str, Vec<u8>)>,
        headers: &[(&str, String)],
        mut again: impl FnMut(&Answer, bool) -> bool,
    ) -> (Sent, Vec<u64>, bool) {
        let mut earlier = Vec::new();
        let mut attempt = 0u32;
        let mut doubt = false;
        loop {
            let sent = self
                .send(
                    what,
                    true,
                    method.clone(),
                    path.clone(),
                    who,
                    body.clone(),
                    headers,
                )
                .await;
            attempt += 1;
            doubt |= sent.answer.outcome() == Outcome::Info;
            let give_up = attempt >= 6 || (self.shared.done() && attempt > 2);
            if give_up || !again(&sent.answer, doubt) {
                return (sent, earlier, doubt);
            }
            earlier.push(sent.op);
            tokio::time::sleep(Duration::from_millis(250 << (attempt - 1).min(3))).await;
        }
    }

    /// A create, sent again under one `Idempotency-Key` while it gets no
    /// answer or a 503 before writing (a restore, the id check after a
    /// Redis restart). `None` when it never got one: its `marker` is left
    /// for the checker.
    pub async fn create(
        &mut self,
        what: &'static str,
        path: String,
        who: &As,
        body: Value,
        marker: &str,
    ) -> Option<Sent> {
        let key = format!("chaos-{marker}");
        let bytes = ("application/json", body.to_string().into_bytes());
        let (sent, earlier, sent_any_unanswered) = self
            .send_while(
                what,
                Method::POST,
                path,
                who,
                Some(bytes),
                &[("idempotency-key", key)],
                |a, _| a.outcome() == Outcome::Info || a.status == 503,
            )
            .await;
        if sent.answer.outcome() == Outcome::Ok
            || (sent.answer.status != 503 && sent.answer.outcome() == Outcome::Fail)
        {
            self.shared.ledger.attempts(sent.op, earlier);
            return Some(sent);
        }
        if sent_any_unanswered {
            self.shared.ledger.unsure_create(marker.to_owned());
        }
        None
    }

    /// The row an acknowledged create answered (`data.{field}`), its id
    /// recorded for the reuse check; `None` otherwise (a refusal the model
    /// did not expect is reported).
    pub fn created(&mut self, sent: &Sent, kind: Kind, field: &str, what: &str) -> Option<Value> {
        if sent.answer.outcome() != Outcome::Ok {
            self.refused(sent, what, None);
            return None;
        }
        let row = sent.answer.data()[field].clone();
        let id = match &row["id"] {
            Value::String(s) => s.clone(),
            other => other.as_u64()?.to_string(),
        };
        self.shared.ledger.created(kind, &id, sent.op);
        Some(row)
    }

    /// A write answered 4xx that the model expected to pass: a sign of
    /// lost state, reported (a loose row's write may rightly fail).
    pub fn refused(&mut self, sent: &Sent, what: &str, key: Option<(Kind, String)>) {
        // Refused before writing, by design: a restore or the id check.
        if sent.answer.status == 503 {
            return;
        }
        if let Some(key) = key
            && self.model.rows.get(&key).is_some_and(|e| e.loose.is_some())
        {
            return;
        }
        self.unexpected.push((
            sent.t1,
            format!(
                "op {} ({what}) answered {} at {} ms: {}",
                sent.op,
                sent.answer.status,
                sent.t1,
                if sent.answer.body.is_null() {
                    sent.answer.text.clone()
                } else {
                    sent.answer.body.to_string()
                }
            ),
        ));
    }

    /// Runs writes until the run stops.
    pub async fn run(mut self) -> Worker {
        let mut resync = self.shared.resync.subscribe();
        if let Err(e) = self.setup().await {
            self.unexpected
                .push((0, format!("client {} could not set up: {e}", self.id)));
            return self;
        }
        while !self.shared.done() {
            if resync.has_changed().unwrap_or(false) {
                resync.borrow_and_update();
                self.count_losses().await;
            }
            self.step().await;
        }
        // A Redis kill during the last step is counted too: its losses
        // would otherwise reach the final check as lost or resurrected.
        if resync.has_changed().unwrap_or(false) {
            resync.borrow_and_update();
            self.count_losses().await;
        }
        self
    }

    /// One write, chosen by weight among those the domain allows.
    async fn step(&mut self) {
        let d = &self.domain;
        let tasks = d.tasks.len();
        let choices: [(u32, bool); 18] = [
            (30, tasks < self.max_tasks), // 0 task create
            (18, tasks > 0),              // 1 task update
            (4, tasks > 0),               // 2 task done
            (if tasks > self.max_tasks / 2 { 14 } else { 6 }, tasks > 0), // 3 task delete
            (5, tasks > 2),               // 4 batch
            (2, tasks < self.max_tasks),  // 5 import
            (2, d.users.len() < 6),       // 6 user create
            (3, !d.users.is_empty()),     // 7 user update
            (3, !d.users.is_empty()),     // 8 work times
            (1, d.users.len() > 2),       // 9 user delete
            (2, !d.users.is_empty() && d.groups.len() > 1), // 10 member add
            (1, !d.users.is_empty()),     // 11 member remove
            (1, d.groups.len() < 4),      // 12 group create
            (1, !d.groups.is_empty()),    // 13 group rename
            (1, d.groups.len() > 2),      // 14 group delete
            (2, !d.users.is_empty() && d.tokens.len() < 8), // 15 token create
            (1, !d.tokens.is_empty()),    // 16 token revoke
            (2, !d.groups.is_empty()),    // 17 webhook create/update/delete
        ];
        let total: u32 = choices.iter().filter(|c| c.1).map(|c| c.0).sum();
        if total == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        }
        let mut pick = (self.rng.below(u64::from(total))) as u32;
        let mut chosen = 0;
        for (i, (w, ok)) in choices.iter().enumerate() {
            if !ok {
                continue;
            }
            if pick < *w {
                chosen = i;
                break;
            }
            pick -= w;
        }
        match chosen {
            0 => self.task_create().await,
            1 => self.task_update().await,
            2 => self.task_done().await,
            3 => self.task_delete().await,
            4 => self.batch().await,
            5 => self.import().await,
            6 => self.user_create().await,
            7 => self.user_update().await,
            8 => self.work_times().await,
            9 => self.user_delete().await,
            10 => self.member_add().await,
            11 => self.member_remove().await,
            12 => self.group_create().await,
            13 => self.group_rename().await,
            14 => self.group_delete().await,
            15 => self.token_create().await,
            16 => self.token_revoke().await,
            _ => self.webhook_write().await,
        }
    }
}

/// Any element of `items`, by the generator; `None` when there is none.
pub fn pick<T: Clone>(rng: &mut Rng, items: impl IntoIterator<Item = T>) -> Option<T> {
    let all: Vec<T> = items.into_iter().collect();
    if all.is_empty() {
        return None;
    }
    let i = rng.below(all.len() as u64) as usize;
    Some(all[i].clone())
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}
