//! Webhooks in Redis (`P webhook:{id}`, `P webhooks`, `P group:{id}:webhooks`):
//! made, changed and deleted by one script (`lua/webhook_write.lua`, which
//! also decides who may touch which hook), read with one pipeline.

use redis::Value;
use taskmaster_shared::domain::UserId;
use taskmaster_shared::keys::RowType;
use taskmaster_shared::model::Fields;
use taskmaster_shared::webhook::Webhook;

use super::scripts::SCRIPTS;
use super::value::{array, fields, string};
use super::{Store, StoreError, Written};

/// Most hooks one group has.
pub const MAX_WEBHOOKS_PER_GROUP: u32 = 20;
/// Most hooks in all.
pub const MAX_WEBHOOKS: u32 = 1_000;

/// A hook's fields to set, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookFields {
    pub url: Option<String>,
    /// Sorted, without repeats.
    pub events: Option<Vec<String>>,
    pub secret: Option<String>,
    pub active: Option<bool>,
}

impl WebhookFields {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(url) = &self.url {
            out.push(("url", url.clone()));
        }
        if let Some(events) = &self.events {
            out.push(("events", events.join(",")));
        }
        if let Some(secret) = &self.secret {
            out.push(("secret", secret.clone()));
        }
        if let Some(active) = self.active {
            out.push(("active", if active { "1" } else { "0" }.to_owned()));
        }
        out
    }
}

/// Whose hooks a listing holds.
#[derive(Debug, Clone, Copy)]
pub enum HookScope<'a> {
    All,
    /// The hooks of these groups.
    Groups(&'a [u64]),
}

/// What a write does.
enum Action {
    Create {
        group: Option<u64>,
        created_by: Option<UserId>,
    },
    Update(u64),
    Delete(u64),
}

impl Store {
    /// Makes a hook (refused: `GroupNotFound`, `Forbidden` when `caller`
    /// does not administer the group, `TooMany`); its id. `caller` is
    /// `None` for the owner.
    pub async fn create_webhook(
        &self,
        caller: Option<UserId>,
        group: Option<u64>,
        created_by: Option<UserId>,
        set: &WebhookFields,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        self.write_webhook(caller, Action::Create { group, created_by }, set, now)
            .await
    }

    /// Changes hook `id` (refused `NotFound`: missing, or not `caller`'s
    /// to touch).
    pub async fn update_webhook(
        &self,
        caller: Option<UserId>,
        id: u64,
        set: &WebhookFields,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        self.write_webhook(caller, Action::Update(id), set, now)
            .await
    }

    /// Deletes hook `id` (refused as [`Store::update_webhook`]).
    pub async fn delete_webhook(
        &self,
        caller: Option<UserId>,
        id: u64,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        self.write_webhook(caller, Action::Delete(id), &WebhookFields::default(), now)
            .await
    }

    async fn write_webhook(
        &self,
        caller: Option<UserId>,
        action: Action,
        set: &WebhookFields,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.webhook_write, now);
        let (name, id, group) = match &action {
            Action::Create { group, .. } => ("create", String::new(), *group),
            Action::Update(id) => ("update", id.to_string(), None),
            Action::Delete(id) => ("delete", id.to_string(), None),
        };
        inv.arg(name)
            .arg(caller.map(|c| c.get().to_string()).unwrap_or_default())
            .arg(id)
            .arg(group.map(|g| g.to_string()).unwrap_or_default())
            .arg(MAX_WEBHOOKS_PER_GROUP)
            .arg(MAX_WEBHOOKS);
        for (field, value) in set.pairs() {
            inv.arg(field).arg(value);
        }
        if let Action::Create { created_by, .. } = action {
            inv.arg("created_by")
                .arg(created_by.map(|u| u.get().to_string()).unwrap_or_default());
        }
        Ok(self.write(&inv).await?.map(|items| {
            items
                .first()
                .and_then(string)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        }))
    }

    /// The hooks of `scope`, sorted by id.
    pub async fn webhooks(&self, scope: HookScope<'_>) -> Result<Vec<Webhook>, StoreError> {
        let mut pipe = redis::pipe();
        match scope {
            HookScope::All => {
                pipe.cmd("SMEMBERS").arg(self.keys.all(RowType::Webhook));
            }
            HookScope::Groups(groups) => {
                for g in groups {
                    pipe.cmd("SMEMBERS").arg(self.keys.group_webhooks(*g));
                }
            }
        }
        let replies: Vec<Value> = self.query(&pipe).await?;
        let mut ids: Vec<u64> = replies
            .into_iter()
            .flat_map(|v| array(v).unwrap_or_default())
            .filter_map(|v| string(&v)?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.webhooks_by_id(&ids).await
    }

    /// Hook `id`, if it exists.
    pub async fn webhook(&self, id: u64) -> Result<Option<Webhook>, StoreError> {
        Ok(self.webhooks_by_id(&[id]).await?.pop())
    }

    /// Hook `hook`'s newest deliveries (at most 100), newest first.
    pub async fn webhook_deliveries(&self, hook: u64) -> Result<Vec<Fields>, StoreError> {
        let ids: Vec<String> = self
            .query_one(
                redis::cmd("LRANGE")
                    .arg(self.keys.webhook_deliveries(hook))
                    .arg(0)
                    .arg(99),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.keys.webhook_delivery(id));
        }
        let replies: Vec<Value> = self.query(&pipe).await?;
        Ok(ids
            .into_iter()
            .zip(replies)
            .filter_map(|(id, v)| {
                let mut f = fields(v);
                // Expired since it was listed: gone.
                (!f.is_empty()).then(|| {
                    f.insert("id".into(), id);
                    f
                })
            })
            .collect())
    }

    /// Sends delivery `id` of hook `hook` again (refused `NotFound` as
    /// [`Store::update_webhook`], or when the delivery is not the hook's).
    pub async fn redeliver(
        &self,
        caller: Option<UserId>,
        hook: u64,
        id: &str,
        now_ms: u64,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = SCRIPTS.webhook_redeliver.prepare_invoke();
        inv.arg(self.keys.prefix())
            .arg(now_ms)
            .arg(caller.map(|c| c.get().to_string()).unwrap_or_default())
            .arg(hook)
            .arg(id);
        Ok(self.write(&inv).await?.map(|_| ()))
    }

    async fn webhooks_by_id(&self, ids: &[u64]) -> Result<Vec<Webhook>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL")
                .arg(self.keys.row(RowType::Webhook, *id));
        }
        let replies: Vec<Value> = self.query(&pipe).await?;
        Ok(replies
            .into_iter()
            .filter_map(|v| Webhook::from_fields(&fields(v)))
            .collect())
    }
}
