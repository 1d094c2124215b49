//! What a client reads: its domain's setup, the rows a spreading write
//! touched, and, after a Redis kill, everything it expects, to count what
//! the kill lost ([`super::workload::Loss`]).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use super::client::{Answer, As};
use super::model::{Kind, Model, project};
use super::workload::{Loss, Sent, Worker};

impl Worker {
    /// A GET retried until it is answered 200 or 404 (at most a minute).
    pub async fn read(&self, path: &str, who: &As) -> Option<Answer> {
        self.read_until(path, who, &[200, 404], Duration::from_secs(60))
            .await
    }

    /// A GET, after Redis is recovered, asked again every 200 ms until
    /// its status is one of `settled`; `None` past `limit`. An answer
    /// from across a Redis kill does not count: the restarted server may
    /// have given it before syncd's check replaced its rows.
    async fn read_until(
        &self,
        path: &str,
        who: &As,
        settled: &[u16],
        limit: Duration,
    ) -> Option<Answer> {
        let deadline = Instant::now() + limit;
        loop {
            self.shared.recovered().await;
            let kills = self.shared.redis_kills.load(Ordering::Relaxed);
            let answer = self
                .shared
                .http
                .json(Method::GET, path, who, None, "chaos-read")
                .await;
            let across_a_kill = kills != self.shared.redis_kills.load(Ordering::Relaxed)
                || self.shared.recovering.load(Ordering::Relaxed);
            if settled.contains(&answer.status) && !across_a_kill {
                return Some(answer);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Takes a row found after a crash back into the domain.
    fn adopt(&mut self, kind: Kind, id: &str, row: &Value) {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let num = id.parse().unwrap_or(0);
        match kind {
            Kind::User if num != self.domain.admin => {
                let groups = row["group_ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                self.domain
                    .users
                    .insert(num, super::workload::Member { groups });
            }
            Kind::User => {}
            Kind::Group => {
                self.domain.groups.insert(num);
            }
            Kind::Task => {
                self.domain
                    .tasks
                    .insert(num, (n(&row["user_id"]), n(&row["group_id"])));
            }
            Kind::Token => {
                self.domain.tokens.insert(id.to_owned(), n(&row["user_id"]));
            }
            Kind::Webhook => {
                self.domain.hooks.insert(num, n(&row["group_id"]));
            }
        }
    }

    /// A user's own token list, asked again while busy (429, 5xx, no
    /// answer) for at most 30 s; `None` if never answered. A user that
    /// cannot sign in (gone) has no tokens.
    async fn read_tokens(&self, who: &As) -> Option<Value> {
        let limit = Duration::from_secs(30);
        let answer = self
            .read_until("/auth/tokens", who, &[200, 401, 403, 404], limit)
            .await?;
        Some(match answer.status {
            200 => answer.data()["tokens"].clone(),
            _ => json!([]),
        })
    }

    /// The admin, two groups and three users, each retried until made.
    pub async fn setup(&mut self) -> Result<(), String> {
        let owner = self.shared.owner.clone();
        let email = format!("c{}-admin@chaos.test", self.id);
        let body = json!({"full_name": format!("Chaos admin {}", self.id), "email": email,
                          "password": self.password, "role": "group_admin"});
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.domain.admin == 0 {
            if Instant::now() > deadline {
                return Err("the admin was never made".into());
            }
            if let Some(sent) = self
                .create("user.create", "/users".into(), &owner, body.clone(), &email)
                .await
                && let Some(user) = self.created(&sent, Kind::User, "user", "user.create")
            {
                self.domain.admin = user["id"].as_u64().unwrap_or(0);
                self.user_acked(&sent, &user);
            }
        }
        while self.domain.groups.len() < 2 && Instant::now() < deadline {
            self.group_create().await;
        }
        while self.domain.users.len() < 3 && Instant::now() < deadline {
            self.user_create().await;
        }
        if Instant::now() > deadline {
            return Err("the domain was never made".into());
        }
        Ok(())
    }

    /// Reads a user back after `sent` changed it.
    pub async fn read_back_user(&mut self, sent: &Sent, id: u64) {
        let owner = self.shared.owner.clone();
        let Some(answer) = self.read(&format!("/users/{id}"), &owner).await else {
            return;
        };
        let at = self.shared.now_ms();
        if answer.status == 404 {
            self.domain.users.remove(&id);
            if id == self.domain.admin {
                // Lost with a crash: made again before the next write.
                self.domain.admin = 0;
            }
            self.model
                .set((Kind::User, id.to_string()), None, sent.op, sent.t0, at);
        } else {
            let user = answer.data().clone();
            self.user_acked(
                &Sent {
                    op: sent.op,
                    t0: sent.t0,
                    t1: at,
                    answer,
                },
                &user,
            );
        }
    }

    /// Reads a user's tasks back after `sent` changed them: all of them,
    /// or only those whose title starts with `marker` (an import's).
    pub async fn read_back_user_tasks(&mut self, sent: &Sent, user: u64, marker: Option<&str>) {
        let owner = self.shared.owner.clone();
        let Some(answer) = self.read(&format!("/users/{user}/tasks"), &owner).await else {
            return;
        };
        let at = self.shared.now_ms();
        let tasks: Vec<Value> = answer.data()["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ack = Sent {
            op: sent.op,
            t0: sent.t0,
            t1: at,
            answer: answer.clone(),
        };
        let mut seen = std::collections::BTreeSet::new();
        for task in &tasks {
            let title = task["title"].as_str().unwrap_or_default();
            if marker.is_some_and(|m| !title.starts_with(&format!("{m}-"))) {
                continue;
            }
            let Some(id) = task["id"].as_u64() else {
                continue;
            };
            seen.insert(id);
            if marker.is_some() {
                self.shared
                    .ledger
                    .created(Kind::Task, &id.to_string(), sent.op);
            }
            self.task_acked(&ack, task);
        }
        if marker.is_none() {
            let gone: Vec<u64> = self
                .domain
                .tasks
                .iter()
                .filter(|(t, (u, _))| *u == user && !seen.contains(t))
                .map(|(t, _)| *t)
                .collect();
            for id in gone {
                self.task_gone(&ack, id);
            }
        }
    }

    /// After a Redis kill: reads back every row this client expects and
    /// counts those that differ, then takes what is there as the truth.
    pub async fn count_losses(&mut self) {
        let owner = self.shared.owner.clone();
        let mut found: Vec<((Kind, String), Option<Value>)> = Vec::new();
        let mut users: Vec<u64> = self.domain.users.keys().copied().collect();
        users.push(self.domain.admin);
        let expected: Vec<(Kind, String)> = self.model.rows.keys().cloned().collect();
        for (kind, id) in expected {
            let path = match kind {
                Kind::User => format!("/users/{id}"),
                Kind::Group => format!("/groups/{id}"),
                Kind::Task => continue,
                Kind::Webhook => format!("/webhooks/{id}"),
                Kind::Token => continue,
            };
            // One row that cannot be read is skipped, not the read-back.
            let Some(answer) = self.read(&path, &owner).await else {
                continue;
            };
            let row = (answer.status == 200).then(|| match kind {
                Kind::Webhook => {
                    project(kind, answer.data().get("webhook").unwrap_or(answer.data()))
                }
                _ => project(kind, answer.data()),
            });
            found.push(((kind, id), row));
        }
        // A user a lost delete left behind has its tokens back too.
        for ((kind, id), row) in &found {
            if let (Kind::User, Some(_), Ok(user)) = (kind, row, id.parse::<u64>())
                && !users.contains(&user)
            {
                users.push(user);
            }
        }
        // Tokens: each user's own list (a user that is gone has none). A
        // list that cannot be read (a 429 or 503 until it gives up) says
        // nothing of its tokens: they are skipped, not counted lost.
        let mut tokens = std::collections::BTreeMap::new();
        let mut unread = std::collections::BTreeSet::new();
        for user in &users {
            let who = self.user(*user);
            let Some(answer) = self.read_tokens(&who).await else {
                unread.insert(*user);
                continue;
            };
            for t in answer.as_array().into_iter().flatten() {
                let mut t = t.clone();
                t["user_id"] = json!(user);
                tokens.insert(
                    t["id"].as_str().unwrap_or_default().to_owned(),
                    project(Kind::Token, &t),
                );
            }
        }
        let token_ids: Vec<String> = self
            .model
            .rows
            .iter()
            .filter(|(k, e)| {
                k.0 == Kind::Token
                    && !e
                        .row
                        .as_ref()
                        .and_then(|r| r["user_id"].as_u64())
                        .is_some_and(|u| unread.contains(&u))
            })
            .map(|(k, _)| k.1.clone())
            .collect();
        for id in token_ids {
            let row = tokens.get(&id).cloned();
            found.push(((Kind::Token, id), row));
        }
        let task_ids: Vec<String> = self
            .model
            .rows
            .keys()
            .filter(|k| k.0 == Kind::Task)
            .map(|k| k.1.clone())
            .collect();
        let mut tasks = std::collections::BTreeMap::new();
        for user in &users {
            let Some(answer) = self.read(&format!("/users/{user}/tasks"), &owner).await else {
                continue;
            };
            for task in answer.data()["tasks"].as_array().into_iter().flatten() {
                tasks.insert(
                    task["id"].as_u64().unwrap_or(0).to_string(),
                    project(Kind::Task, task),
                );
            }
        }
        for id in task_ids {
            let row = tasks.get(&id).cloned();
            found.push(((Kind::Task, id), row));
        }
        let now = self.shared.now_ms();
        let mut losses = Vec::new();
        for (key, row) in found {
            let Some(expect) = self.model.rows.get(&key) else {
                continue;
            };
            if Model::accepts(expect, row.as_ref()) {
                continue;
            }
            let (op, answered_ms) = Model::blame(expect, row.as_ref());
            losses.push(Loss {
                client: self.id,
                kind: key.0,
                id: key.1.clone(),
                op,
                answered_ms,
                resync_ms: now,
            });
            // What is there now is what later writes build on.
            let op = expect.op;
            self.model.set(key.clone(), row.clone(), op, now, now);
            // A row a lost write leaves behind is this client's again: later
            // writes (a group's delete, a user's) change it too.
            if let Some(row) = &row {
                self.adopt(key.0, &key.1, row);
            }
            match (key.0, row) {
                (Kind::Task, None) => {
                    self.domain.tasks.remove(&key.1.parse().unwrap_or(0));
                }
                (Kind::Group, None) => {
                    self.domain.groups.remove(&key.1.parse().unwrap_or(0));
                }
                (Kind::Token, None) => {
                    self.domain.tokens.remove(&key.1);
                }
                (Kind::Webhook, None) => {
                    self.domain.hooks.remove(&key.1.parse().unwrap_or(0));
                }
                _ => {}
            }
        }
        if !losses.is_empty() {
            // Users' memberships and tasks may differ too: read them again.
            let probe = Sent {
                op: 0,
                t0: now,
                t1: now,
                answer: Answer {
                    status: 200,
                    body: Value::Null,
                    text: String::new(),
                },
            };
            for user in users {
                self.read_back_user(&probe, user).await;
                self.read_back_user_tasks(&probe, user, None).await;
            }
            // The admin (and with it its groups) was lost: the domain is
            // made again, or every later write would be refused.
            if self.domain.admin == 0 {
                let _ = self.setup().await;
            }
        }
        self.shared
            .losses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(losses);
    }
}
