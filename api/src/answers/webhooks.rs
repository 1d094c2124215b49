//! The webhooks' answers.

use serde::Serialize;
use taskmaster_shared::webhook::Webhook;
use utoipa::ToSchema;

/// `POST /webhooks`: the hook, with its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct WebhookCreated {
    pub message: &'static str,
    /// Deliveries are signed with it (`X-Taskmaster-Signature`); it is
    /// not shown again (give a new one with `PUT` to rotate it).
    pub secret: String,
    pub webhook: Webhook,
}

/// `GET /webhooks`: the hooks the caller manages, by id.
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub count: usize,
    pub webhooks: Vec<Webhook>,
}

/// `PUT /webhooks/{id}`, `DELETE /webhooks/{id}`.
#[derive(Serialize, ToSchema)]
pub struct WebhookMessage {
    pub message: &'static str,
    pub webhook: Webhook,
}

/// One delivery of a hook: what was sent and what came of it.
#[derive(Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// `{change log position}.{hook id}`: one per event per hook (the
    /// `X-Taskmaster-Delivery` header).
    pub id: String,
    pub event: String,
    /// `pending` (due, or waiting for its next attempt), `delivered`,
    /// `dead` (given up after `WEBHOOK_RETRY_WINDOW`: redeliver it by
    /// hand), `cancelled` (the hook was deleted or deactivated).
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    /// While pending.
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_response_code: Option<u16>,
    pub last_duration_ms: Option<u64>,
    pub last_error: Option<String>,
    /// The body sent (`{event, delivery_id, occurred_at, actor, data}`).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// `GET /webhooks/{id}/deliveries`: the newest 100, newest first.
#[derive(Serialize, ToSchema)]
pub struct WebhookDeliveries {
    pub count: usize,
    pub deliveries: Vec<WebhookDelivery>,
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`.
#[derive(Serialize, ToSchema)]
pub struct Redelivery {
    pub message: &'static str,
    pub delivery_id: String,
}
