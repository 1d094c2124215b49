//! The clients' other writes: users and their work times, memberships,
//! groups, personal API tokens and webhooks. Writes whose effects spread
//! (a removal moves or deletes tasks, a group's delete takes its tasks and
//! hooks) are followed by a read-back of what they touched.

use hyper::Method;
use serde_json::{Value, json};

use super::client::Outcome;
use super::model::{Kind, Maybe, project};
use super::workload::{Member, Sent, Worker, pick};

impl Worker {
    pub fn user_acked(&mut self, sent: &Sent, user: &Value) {
        let Some(id) = user["id"].as_u64() else {
            return;
        };
        if id != self.domain.admin {
            let groups = user["group_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            self.domain.users.insert(id, Member { groups });
        }
        self.model.set(
            (Kind::User, id.to_string()),
            Some(project(Kind::User, user)),
            sent.op,
            sent.t0,
            sent.t1,
        );
    }

    pub async fn user_create(&mut self) {
        let email = format!("{}@chaos.test", self.mark("user"));
        let groups: Vec<u64> = self
            .domain
            .groups
            .iter()
            .copied()
            .filter(|_| self.rng.below(2) == 0)
            .collect();
        let body = json!({
            "full_name": format!("Chaos «{}» O'Brien", self.marks), "email": email,
            "password": self.password, "role": "user", "group_ids": groups,
            "work_times": {"monday": 8, "friday": 4.5},
        });
        let owner = self.shared.owner.clone();
        let Some(sent) = self
            .create("user.create", "/users".into(), &owner, body, &email)
            .await
        else {
            return;
        };
        if let Some(user) = self.created(&sent, Kind::User, "user", "user.create") {
            self.user_acked(&sent, &user);
        }
    }

    pub async fn user_update(&mut self) {
        let Some(id) = pick(&mut self.rng, self.domain.users.keys().copied()) else {
            return;
        };
        let body = json!({"full_name": format!("Renamed {}", self.mark("n")), "number": format!("+49 {}", self.rng.below(1_000_000))});
        // An admin manages a user only while it is in one of its groups.
        let managed = self
            .domain
            .users
            .get(&id)
            .is_some_and(|m| !m.groups.is_empty());
        let who = if managed && self.rng.below(2) == 0 {
            self.admin()
        } else {
            self.shared.owner.clone()
        };
        let sent = self
            .send_json(
                "user.update",
                Method::PUT,
                format!("/users/{id}"),
                &who,
                Some(body),
            )
            .await;
        self.user_answer(&sent, id, "user.update", |data| data["user"].clone());
    }

    pub async fn work_times(&mut self) {
        let Some(id) = pick(&mut self.rng, self.domain.users.keys().copied()) else {
            return;
        };
        let body =
            json!({"work_times": {"monday": self.rng.below(12), "tuesday": 7.5, "sunday": 0}});
        let who = self.user(id);
        let sent = self
            .send_json(
                "user.work_times",
                Method::PUT,
                format!("/users/{id}/worktimes"),
                &who,
                Some(body),
            )
            .await;
        let key = (Kind::User, id.to_string());
        match sent.answer.outcome() {
            Outcome::Ok => {
                let mut row = self
                    .model
                    .rows
                    .get(&key)
                    .and_then(|e| e.row.clone())
                    .unwrap_or(Value::Null);
                row["work_times"] = sent.answer.data()["work_times"].clone();
                self.model.set(key, Some(row), sent.op, sent.t0, sent.t1);
            }
            Outcome::Info => self.model.unsure(key, Maybe::Changed, sent.t1),
            Outcome::Fail => self.refused(&sent, "user.work_times", Some(key)),
        }
    }

    fn user_answer(&mut self, sent: &Sent, id: u64, what: &str, user: impl Fn(&Value) -> Value) {
        let key = (Kind::User, id.to_string());
        match sent.answer.outcome() {
            Outcome::Ok => {
                let row = user(sent.answer.data());
                self.user_acked(sent, &row);
            }
            Outcome::Info => self.model.unsure(key, Maybe::Changed, sent.t1),
            Outcome::Fail => self.refused(sent, what, Some(key)),
        }
    }

    /// Deletes a user with its tasks and tokens (owner only).
    pub async fn user_delete(&mut self) {
        let Some(id) = pick(&mut self.rng, self.domain.users.keys().copied()) else {
            return;
        };
        let owner = self.shared.owner.clone();
        // Sent again while unanswered, as a careful client would: a user
        // left in doubt would drop out of this client's domain while its
        // memberships still change under later group deletes (seed
        // 1796544134). A repeat answered 404 means an earlier one did it.
        let (sent, _, doubt) = self
            .send_while(
                "user.delete",
                Method::DELETE,
                format!("/users/{id}"),
                &owner,
                None,
                &[],
                |a, doubt| a.outcome() == Outcome::Info || doubt && a.status == 503,
            )
            .await;
        let key = (Kind::User, id.to_string());
        let outcome = match sent.answer.outcome() {
            Outcome::Fail if doubt && sent.answer.status == 404 => Outcome::Ok,
            Outcome::Fail if doubt && sent.answer.status == 503 => Outcome::Info,
            other => other,
        };
        if outcome == Outcome::Fail {
            return self.refused(&sent, "user.delete", Some(key));
        }
        self.domain.users.remove(&id);
        let tasks: Vec<u64> = self
            .domain
            .tasks
            .iter()
            .filter(|(_, (u, _))| *u == id)
            .map(|(t, _)| *t)
            .collect();
        let tokens: Vec<String> = self
            .domain
            .tokens
            .iter()
            .filter(|(_, u)| **u == id)
            .map(|(t, _)| t.clone())
            .collect();
        let mut gone: Vec<(Kind, String)> =
            tasks.iter().map(|t| (Kind::Task, t.to_string())).collect();
        gone.extend(tokens.iter().map(|t| (Kind::Token, t.clone())));
        gone.push(key);
        for t in &tasks {
            self.domain.tasks.remove(t);
        }
        for t in &tokens {
            self.domain.tokens.remove(t);
        }
        for key in gone {
            if outcome == Outcome::Ok {
                self.model.set(key, None, sent.op, sent.t0, sent.t1);
            } else {
                self.model.unsure(key, Maybe::Deleted, sent.t1);
            }
        }
    }

    pub async fn member_add(&mut self) {
        let Some(user) = pick(&mut self.rng, self.domain.users.keys().copied()) else {
            return;
        };
        let have = self
            .domain
            .users
            .get(&user)
            .map(|m| m.groups.clone())
            .unwrap_or_default();
        let Some(group) = pick(
            &mut self.rng,
            self.domain
                .groups
                .iter()
                .copied()
                .filter(|g| !have.contains(g)),
        ) else {
            return;
        };
        // An admin sees (and may add) only users already in its groups.
        let who = if have.is_empty() {
            self.shared.owner.clone()
        } else {
            self.admin()
        };
        let sent = self
            .send_json(
                "member.add",
                Method::POST,
                format!("/groups/{group}/users"),
                &who,
                Some(json!({"user_id": user})),
            )
            .await;
        self.after_spread(&sent, "member.add", &[user]).await;
    }

    pub async fn member_remove(&mut self) {
        let Some((user, groups)) = pick(
            &mut self.rng,
            self.domain
                .users
                .iter()
                .map(|(u, m)| (*u, m.groups.clone()))
                .filter(|(_, g)| !g.is_empty()),
        ) else {
            return;
        };
        let Some(group) = pick(&mut self.rng, groups) else {
            return;
        };
        let who = self.admin();
        let sent = self
            .send_json(
                "member.remove",
                Method::DELETE,
                format!("/groups/{group}/users/{user}"),
                &who,
                None,
            )
            .await;
        self.after_spread(&sent, "member.remove", &[user]).await;
    }

    /// After a write that may change several rows: read them back when it
    /// was acknowledged; make them loose when it got no answer.
    async fn after_spread(&mut self, sent: &Sent, what: &str, users: &[u64]) {
        match sent.answer.outcome() {
            Outcome::Ok => {
                for user in users {
                    self.read_back_user(sent, *user).await;
                    self.read_back_user_tasks(sent, *user, None).await;
                }
            }
            Outcome::Info => {
                for user in users {
                    self.model
                        .unsure((Kind::User, user.to_string()), Maybe::Changed, sent.t1);
                    let tasks: Vec<u64> = self
                        .domain
                        .tasks
                        .iter()
                        .filter(|(_, (u, _))| u == user)
                        .map(|(t, _)| *t)
                        .collect();
                    for t in tasks {
                        self.model
                            .unsure((Kind::Task, t.to_string()), Maybe::Changed, sent.t1);
                        self.model
                            .unsure((Kind::Task, t.to_string()), Maybe::Deleted, sent.t1);
                    }
                    // Learn the truth before the next write.
                    self.read_back_user(sent, *user).await;
                    self.read_back_user_tasks(sent, *user, None).await;
                }
            }
            Outcome::Fail => self.refused(
                sent,
                what,
                users.first().map(|u| (Kind::User, u.to_string())),
            ),
        }
    }

    pub async fn group_create(&mut self) {
        let name = self.mark("group");
        let owner = self.shared.owner.clone();
        let body = json!({"name": name, "admin_id": self.domain.admin});
        let Some(sent) = self
            .create("group.create", "/groups".into(), &owner, body, &name)
            .await
        else {
            return;
        };
        let Some(group) = self.created(&sent, Kind::Group, "group", "group.create") else {
            return;
        };
        if let Some(id) = group["id"].as_u64() {
            self.domain.groups.insert(id);
            let row = Some(project(Kind::Group, &group));
            self.model.set(
                (Kind::Group, id.to_string()),
                row,
                sent.op,
                sent.t0,
                sent.t1,
            );
        }
        // The admin joined it.
        let admin = self.domain.admin;
        self.read_back_user(&sent, admin).await;
    }

    pub async fn group_rename(&mut self) {
        let Some(id) = pick(&mut self.rng, self.domain.groups.iter().copied()) else {
            return;
        };
        let owner = self.shared.owner.clone();
        let body = json!({"name": self.mark("renamed")});
        let sent = self
            .send_json(
                "group.rename",
                Method::PUT,
                format!("/groups/{id}"),
                &owner,
                Some(body),
            )
            .await;
        let key = (Kind::Group, id.to_string());
        match sent.answer.outcome() {
            Outcome::Ok => {
                let group = project(Kind::Group, &sent.answer.data()["group"]);
                self.model.set(key, Some(group), sent.op, sent.t0, sent.t1);
            }
            Outcome::Info => self.model.unsure(key, Maybe::Changed, sent.t1),
            Outcome::Fail => self.refused(&sent, "group.rename", Some(key)),
        }
    }

    /// Deletes a group with its tasks and hooks; reads the domain back.
    pub async fn group_delete(&mut self) {
        let Some(id) = pick(&mut self.rng, self.domain.groups.iter().copied()) else {
            return;
        };
        let owner = self.shared.owner.clone();
        let sent = self
            .send_json(
                "group.delete",
                Method::DELETE,
                format!("/groups/{id}"),
                &owner,
                None,
            )
            .await;
        let key = (Kind::Group, id.to_string());
        let outcome = sent.answer.outcome();
        if outcome == Outcome::Fail {
            return self.refused(&sent, "group.delete", Some(key));
        }
        let hooks: Vec<u64> = self
            .domain
            .hooks
            .iter()
            .filter(|(_, g)| **g == id)
            .map(|(h, _)| *h)
            .collect();
        for hook in hooks {
            self.domain.hooks.remove(&hook);
            if outcome == Outcome::Ok {
                self.model.set(
                    (Kind::Webhook, hook.to_string()),
                    None,
                    sent.op,
                    sent.t0,
                    sent.t1,
                );
            } else {
                self.model
                    .unsure((Kind::Webhook, hook.to_string()), Maybe::Deleted, sent.t1);
            }
        }
        if outcome == Outcome::Ok {
            self.domain.groups.remove(&id);
            self.model.set(key, None, sent.op, sent.t0, sent.t1);
        } else {
            self.model.unsure(key, Maybe::Deleted, sent.t1);
            self.domain.groups.remove(&id);
        }
        let mut users: Vec<u64> = self.domain.users.keys().copied().collect();
        users.push(self.domain.admin);
        self.after_spread(&sent, "group.delete", &users).await;
    }
}
