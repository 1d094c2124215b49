//! The clients' writes of personal API tokens (as the user) and webhooks
//! (as the domain's admin).

use hyper::Method;
use serde_json::json;

use super::client::Outcome;
use super::model::{Kind, Maybe, project};
use super::workload::{Sent, Worker, pick};

impl Worker {
    pub async fn token_create(&mut self) {
        let Some(user) = pick(&mut self.rng, self.domain.users.keys().copied()) else {
            return;
        };
        let name = self.mark("token");
        let body = json!({"name": name, "read_only": self.rng.below(2) == 0});
        let who = self.user(user);
        let Some(sent) = self
            .create("token.create", "/auth/tokens".into(), &who, body, &name)
            .await
        else {
            return;
        };
        let Some(mut token) = self.created(&sent, Kind::Token, "api_token", "token.create") else {
            return;
        };
        // Answered to its user, the token does not name it.
        token["user_id"] = json!(user);
        if let Some(id) = token["id"].as_str().map(str::to_owned) {
            self.domain.tokens.insert(id.clone(), user);
            let row = Some(project(Kind::Token, &token));
            self.model
                .set((Kind::Token, id), row, sent.op, sent.t0, sent.t1);
        }
    }

    pub async fn token_revoke(&mut self) {
        let Some((id, user)) = pick(&mut self.rng, self.domain.tokens.clone()) else {
            return;
        };
        let who = self.user(user);
        let sent = self
            .send_json(
                "token.revoke",
                Method::DELETE,
                format!("/auth/tokens/{id}"),
                &who,
                None,
            )
            .await;
        let key = (Kind::Token, id.clone());
        match sent.answer.outcome() {
            Outcome::Ok => {
                self.domain.tokens.remove(&id);
                self.model.set(key, None, sent.op, sent.t0, sent.t1);
            }
            Outcome::Info => {
                self.domain.tokens.remove(&id);
                self.model.unsure(key, Maybe::Deleted, sent.t1);
            }
            Outcome::Fail => self.refused(&sent, "token.revoke", Some(key)),
        }
    }

    /// Creates, changes or deletes one of the domain's webhooks (as its
    /// admin). They point at a loopback port nobody listens on and want
    /// only group renames, so their deliveries stay few.
    pub async fn webhook_write(&mut self) {
        let who = self.admin();
        let hook = pick(&mut self.rng, self.domain.hooks.clone());
        match (self.rng.below(3), hook) {
            (0, Some((id, _))) => {
                let body = json!({"active": self.rng.below(2) == 0, "events": [pick(&mut self.rng, ["group.updated", "group.*"]).unwrap_or("group.*")]});
                let sent = self
                    .send_json(
                        "webhook.update",
                        Method::PUT,
                        format!("/webhooks/{id}"),
                        &who,
                        Some(body),
                    )
                    .await;
                self.webhook_answer(&sent, id, false);
            }
            (1, Some((id, _))) => {
                let sent = self
                    .send_json(
                        "webhook.delete",
                        Method::DELETE,
                        format!("/webhooks/{id}"),
                        &who,
                        None,
                    )
                    .await;
                self.webhook_answer(&sent, id, true);
            }
            _ => {
                let Some(group) = pick(&mut self.rng, self.domain.groups.iter().copied()) else {
                    return;
                };
                if self.domain.hooks.len() >= 3 {
                    return;
                }
                let marker = self.mark("hook");
                let body = json!({"url": format!("http://127.0.0.1:9/{marker}"), "events": ["group.updated"], "group_id": group});
                let Some(sent) = self
                    .create("webhook.create", "/webhooks".into(), &who, body, &marker)
                    .await
                else {
                    return;
                };
                let created = self.created(&sent, Kind::Webhook, "webhook", "webhook.create");
                if let Some((id, hook)) = created.and_then(|h| Some((h["id"].as_u64()?, h))) {
                    self.domain.hooks.insert(id, group);
                    let row = Some(project(Kind::Webhook, &hook));
                    self.model.set(
                        (Kind::Webhook, id.to_string()),
                        row,
                        sent.op,
                        sent.t0,
                        sent.t1,
                    );
                }
            }
        }
    }

    fn webhook_answer(&mut self, sent: &Sent, id: u64, delete: bool) {
        let key = (Kind::Webhook, id.to_string());
        match (sent.answer.outcome(), delete) {
            (Outcome::Ok, false) => {
                let hook = project(Kind::Webhook, &sent.answer.data()["webhook"]);
                self.model.set(key, Some(hook), sent.op, sent.t0, sent.t1);
            }
            (Outcome::Ok, true) => {
                self.domain.hooks.remove(&id);
                self.model.set(key, None, sent.op, sent.t0, sent.t1);
            }
            (Outcome::Info, false) => self.model.unsure(key, Maybe::Changed, sent.t1),
            (Outcome::Info, true) => {
                self.domain.hooks.remove(&id);
                self.model.unsure(key, Maybe::Deleted, sent.t1);
            }
            (Outcome::Fail, _) => self.refused(sent, "webhook write", Some(key)),
        }
    }
}
