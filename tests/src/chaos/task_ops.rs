//! The clients' task writes: create, update (a move between the user's
//! groups included), done, delete, batches and CSV imports.

use hyper::Method;
use serde_json::{Value, json};

use super::client::{As, Outcome};
use super::model::{Kind, Maybe, project};
use super::workload::{Sent, Worker, pick};

const LABELS: [&str; 4] = ["q4", "ops", "bug", "later"];

impl Worker {
    /// A user of the domain that is in a group, and one of its groups.
    fn member_and_group(&mut self) -> Option<(u64, u64)> {
        let members: Vec<(u64, Vec<u64>)> = self
            .domain
            .users
            .iter()
            .filter(|(_, m)| !m.groups.is_empty())
            .map(|(u, m)| (*u, m.groups.iter().copied().collect()))
            .collect();
        let (user, groups) = pick(&mut self.rng, members)?;
        let group = pick(&mut self.rng, groups)?;
        Some((user, group))
    }

    /// The task's user itself or the domain's admin.
    fn task_writer(&mut self, user: u64) -> As {
        if self.rng.below(2) == 0 {
            self.user(user)
        } else {
            self.admin()
        }
    }

    /// Records an acknowledged task answer (`data.task` or a row).
    pub fn task_acked(&mut self, sent: &Sent, task: &Value) {
        let Some(id) = task["id"].as_u64() else {
            return;
        };
        let (user, group) = (
            task["user_id"].as_u64().unwrap_or(0),
            task["group_id"].as_u64().unwrap_or(0),
        );
        self.domain.tasks.insert(id, (user, group));
        self.model.set(
            (Kind::Task, id.to_string()),
            Some(project(Kind::Task, task)),
            sent.op,
            sent.t0,
            sent.t1,
        );
    }

    pub fn task_gone(&mut self, sent: &Sent, id: u64) {
        self.domain.tasks.remove(&id);
        self.model.set(
            (Kind::Task, id.to_string()),
            None,
            sent.op,
            sent.t0,
            sent.t1,
        );
    }

    pub async fn task_create(&mut self) {
        let Some((user, group)) = self.member_and_group() else {
            return;
        };
        let title = self.mark("t");
        let mut body = json!({
            "title": title, "group_id": group, "priority": 1 + self.rng.below(3),
            "information": format!("made by chaos client {}", self.id),
        });
        if self.rng.below(3) == 0 {
            body["deadline"] = json!(format!(
                "2027-0{}-1{}",
                1 + self.rng.below(9),
                self.rng.below(10)
            ));
        }
        if self.rng.below(3) == 0 {
            let label = pick(&mut self.rng, LABELS).unwrap_or("q4");
            body["labels"] = json!([label]);
        }
        let who = self.task_writer(user);
        let Some(sent) = self
            .create(
                "task.create",
                format!("/users/{user}/tasks"),
                &who,
                body,
                &title,
            )
            .await
        else {
            return;
        };
        if let Some(task) = self.created(&sent, Kind::Task, "task", "task.create") {
            self.task_acked(&sent, &task);
        }
    }

    pub async fn task_update(&mut self) {
        let Some((id, (user, group))) = pick(&mut self.rng, self.domain.tasks.clone()) else {
            return;
        };
        let mut body = json!({"title": self.mark("u"), "priority": 1 + self.rng.below(3)});
        match self.rng.below(6) {
            0 => {
                body["information"] = json!(format!("edited <b>\"{}\"</b> ∆", self.rng.below(1000)))
            }
            1 => {
                body["state"] =
                    json!(pick(&mut self.rng, ["todo", "in_progress", "done"]).unwrap_or("todo"))
            }
            2 => {
                let groups: Vec<u64> = self
                    .domain
                    .users
                    .get(&user)
                    .map(|m| m.groups.iter().copied().filter(|g| *g != group).collect())
                    .unwrap_or_default();
                if let Some(other) = pick(&mut self.rng, groups) {
                    body["group_id"] = json!(other);
                }
            }
            3 => body["labels"] = json!([pick(&mut self.rng, LABELS).unwrap_or("ops")]),
            _ => {}
        }
        let who = self.task_writer(user);
        let sent = self
            .send_json(
                "task.update",
                Method::PUT,
                format!("/users/{user}/tasks/{id}"),
                &who,
                Some(body),
            )
            .await;
        self.task_answer(&sent, id, "task.update");
    }

    pub async fn task_done(&mut self) {
        let Some((id, (user, _))) = pick(&mut self.rng, self.domain.tasks.clone()) else {
            return;
        };
        let who = self.task_writer(user);
        let sent = self
            .send_json(
                "task.done",
                Method::PUT,
                format!("/users/{user}/tasks/{id}/done"),
                &who,
                None,
            )
            .await;
        self.task_answer(&sent, id, "task.done");
    }

    fn task_answer(&mut self, sent: &Sent, id: u64, what: &str) {
        let key = (Kind::Task, id.to_string());
        match sent.answer.outcome() {
            Outcome::Ok => {
                let task = sent.answer.data()["task"].clone();
                self.task_acked(sent, &task);
            }
            Outcome::Info => self.model.unsure(key, Maybe::Changed, sent.t1),
            Outcome::Fail => self.refused(sent, what, Some(key)),
        }
    }

    pub async fn task_delete(&mut self) {
        let Some((id, (user, _))) = pick(&mut self.rng, self.domain.tasks.clone()) else {
            return;
        };
        let who = self.task_writer(user);
        let sent = self
            .send_json(
                "task.delete",
                Method::DELETE,
                format!("/users/{user}/tasks/{id}"),
                &who,
                None,
            )
            .await;
        let key = (Kind::Task, id.to_string());
        match sent.answer.outcome() {
            Outcome::Ok => self.task_gone(&sent, id),
            Outcome::Info => {
                self.model.unsure(key, Maybe::Deleted, sent.t1);
                // Do not write to it again: it may be gone.
                self.domain.tasks.remove(&id);
            }
            Outcome::Fail => self.refused(&sent, "task.delete", Some(key)),
        }
    }

    /// A batch over 2 to 6 of the domain's tasks, as its admin.
    pub async fn batch(&mut self) {
        let n = 2 + self.rng.below(5) as usize;
        let mut ids: Vec<u64> = Vec::new();
        for _ in 0..n {
            if let Some(id) = pick(&mut self.rng, self.domain.tasks.keys().copied())
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        let action = pick(&mut self.rng, ["update", "mark_done", "delete"]).unwrap_or("update");
        let body = json!({"task_ids": ids, "action": action, "updates": {"priority": 1 + self.rng.below(3)}});
        let who = self.admin();
        let sent = self
            .send_json(
                "task.batch",
                Method::POST,
                "/tasks/batch".into(),
                &who,
                Some(body),
            )
            .await;
        match sent.answer.outcome() {
            Outcome::Ok => {
                let data = sent.answer.data().clone();
                for task in data["updated_tasks"].as_array().into_iter().flatten() {
                    self.task_acked(&sent, task);
                }
                for task in data["deleted_tasks"].as_array().into_iter().flatten() {
                    if let Some(id) = task["id"].as_u64() {
                        self.task_gone(&sent, id);
                    }
                }
                let answered = data["updated_count"].as_u64().unwrap_or(0)
                    + data["deleted_count"].as_u64().unwrap_or(0);
                if answered != ids.len() as u64 {
                    self.refused(
                        &sent,
                        "task.batch (some tasks refused)",
                        ids.first().map(|i| (Kind::Task, i.to_string())),
                    );
                }
            }
            Outcome::Info => {
                for id in ids {
                    let maybe = if action == "delete" {
                        Maybe::Deleted
                    } else {
                        Maybe::Changed
                    };
                    self.model
                        .unsure((Kind::Task, id.to_string()), maybe, sent.t1);
                    if action == "delete" {
                        self.domain.tasks.remove(&id);
                    }
                }
            }
            Outcome::Fail => self.refused(
                &sent,
                "task.batch",
                ids.first().map(|i| (Kind::Task, i.to_string())),
            ),
        }
    }

    /// A CSV import of 1 to 5 rows for one user into one of its groups (as
    /// the owner); the made rows are read back by their titles.
    pub async fn import(&mut self) {
        let Some((user, group)) = self.member_and_group() else {
            return;
        };
        let marker = self.mark("i");
        let rows = 1 + self.rng.below(5);
        let mut csv = String::from("title,priority,information,labels\n");
        for k in 0..rows {
            csv.push_str(&format!(
                "{marker}-{k},{},\"imported, row {k}\",ops\n",
                1 + k % 3
            ));
        }
        // As the user or its admin, never the owner: every client sharing
        // one caller would meet the per-caller limit of running imports.
        let who = self.task_writer(user);
        let path = format!("/users/{user}/tasks/import?group_id={group}");
        // 429 is back-pressure (imports being read, or running, at once):
        // a client waits and sends the same import again. So it does after
        // a 503 once an earlier attempt went unanswered: that attempt may
        // have run, and only its key's replay can say (seed 7, always: an
        // import left unanswered, sent again into a restore and answered
        // 503 there, was taken for refused, though its audit said it ran).
        let (sent, earlier, doubt) = self
            .send_while(
                "task.import",
                Method::POST,
                path,
                &who,
                Some(("text/csv", csv.into_bytes())),
                &[("idempotency-key", format!("chaos-{marker}"))],
                |a, doubt| {
                    a.outcome() == Outcome::Info || a.status == 429 || doubt && a.status == 503
                },
            )
            .await;
        self.shared.ledger.attempts(sent.op, earlier);
        let mut outcome = sent.answer.outcome();
        // A 503 is refused before writing, this attempt; after one left
        // unanswered, the earlier may have run. A 409 without a job is a
        // job a restore forgot, whatever the attempt: a replay's, or this
        // one's own, caught by the restore after it opened (it may have
        // written its rows; the api cannot say).
        let forgotten = sent.answer.status == 409 && sent.answer.data()["id"].is_null();
        if (doubt && sent.answer.status == 503) || forgotten {
            outcome = Outcome::Info;
            self.shared
                .ledger
                .write(sent.op, Outcome::Info, "task.import", true);
        }
        if sent.answer.status == 202 {
            // Accepted, not done: the job's end decides. One whose api died
            // mid-way is taken over and, all or nothing, undone: a failed
            // job must leave no row (the phantom check) and no audit.
            outcome = self.job_end(&sent, &who).await;
            if outcome != Outcome::Ok {
                self.shared
                    .ledger
                    .write(sent.op, Outcome::Info, "task.import", true);
            }
        }
        match outcome {
            Outcome::Ok => self.read_back_user_tasks(&sent, user, Some(&marker)).await,
            Outcome::Info => {
                for k in 0..rows {
                    self.shared.ledger.unsure_create(format!("{marker}-{k}"));
                }
            }
            Outcome::Fail if sent.answer.status == 202 => {}
            Outcome::Fail => self.refused(&sent, "task.import", None),
        }
    }

    /// How the job a 202 answered ended: `Ok` done, `Fail` failed or
    /// cancelled, `Info` still not over after two minutes.
    async fn job_end(&mut self, sent: &Sent, who: &As) -> Outcome {
        let Some(id) = sent.answer.data()["id"].as_u64() else {
            return Outcome::Info;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            let Some(answer) = self.read(&format!("/jobs/{id}"), who).await else {
                break;
            };
            match answer.data()["status"].as_str() {
                Some("done") => return Outcome::Ok,
                Some("failed" | "cancelled") => return Outcome::Fail,
                _ if answer.status == 404 => return Outcome::Info,
                _ => tokio::time::sleep(std::time::Duration::from_millis(300)).await,
            }
        }
        Outcome::Info
    }
}
