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
