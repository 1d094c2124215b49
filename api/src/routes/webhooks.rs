//! `/webhooks`: registering where the change log is delivered.
//!
//! The owner registers global hooks (every event); a group admin registers
//! hooks for a group it administers, which receive only what concerns that
//! group. Each hook has a URL, the events it wants, a secret that signs
//! every delivery (given, or made here and shown once) and an active flag.
//! Hooks are durable rows: written behind, backed up, restored, and every
//! change is in the audit log (never the secret).
//!
//! A URL must be http or https and may not resolve to a loopback,
//! private, link-local (cloud metadata) or otherwise internal address,
//! unless its host is listed in `WEBHOOK_ALLOW_HOSTS`; the address is
//! checked again at every delivery, since DNS answers change. A host that
//! does not resolve now is accepted (deliveries to it fail and are
//! retried).

use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;
use taskmaster_shared::domain::{FieldError, Role, UserId};
use taskmaster_shared::position::Position;
use taskmaster_shared::webhook::{self, EVENTS, Webhook};
use utoipa::ToSchema;

use crate::answers::{
    Redelivery, WebhookCreated, WebhookDeliveries, WebhookDelivery, WebhookList, WebhookMessage,
    accepted, created, ok,
};
use crate::auth::Caller;
use crate::clock::{now, now_ms};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store::{HookScope, MAX_WEBHOOKS, MAX_WEBHOOKS_PER_GROUP, Refusal, WebhookFields};

/// How long a registration waits for DNS.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// `POST /webhooks`. Field names match in any case.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"url": "https://hooks.example.com/taskmaster", "events": ["task.*"], "group_id": 1}))]
pub struct CreateWebhook {
    /// http or https; at most 2048 characters.
    #[schema(required = true, max_length = 2048)]
    url: Option<String>,
    /// 1 to 16 of `task.created`, `task.updated`, `task.deleted`, `task.*`
    /// and the same for `user` and `group`.
    #[schema(required = true, min_items = 1, max_items = 16)]
    events: Option<Vec<String>>,
    /// 16 to 256 printable characters; absent: one is made (shown once).
    #[schema(min_length = 16, max_length = 256)]
    secret: Option<String>,
    /// Default `true`.
    active: Option<bool>,
    /// The group whose events it receives (a group admin must name one it
    /// administers); absent: a global hook (the owner's only).
    #[schema(value_type = Option<u64>, minimum = 1)]
    group_id: Option<i64>,
}

/// `PUT /webhooks/{id}`: what is given changes.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"active": false}))]
pub struct UpdateWebhook {
    #[schema(max_length = 2048)]
    url: Option<String>,
    #[schema(min_items = 1, max_items = 16)]
    events: Option<Vec<String>>,
    /// A new secret (rotation); deliveries are signed with it from now on.
    #[schema(min_length = 16, max_length = 256)]
    secret: Option<String>,
    active: Option<bool>,
}

/// Who manages hooks: the owner (`None`) or a group admin (`Some`).
fn manager(caller: &Caller) -> Result<Option<UserId>, ApiError> {
    match caller.role {
        Role::Owner => Ok(None),
        Role::GroupAdmin => Ok(caller.id.map(UserId)),
        Role::User => Err(ApiError::Forbidden("Insufficient permissions".into())),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("Webhook not found".into())
}

fn hook_id(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest("Invalid webhook ID".into()))
}

fn events(raw: Vec<String>) -> Result<Vec<String>, FieldError> {
    if raw.is_empty() || raw.len() > 16 {
        return Err(FieldError::new("events", "must list 1 to 16 events"));
    }
    let mut out = Vec::with_capacity(raw.len());
    for e in raw {
        if !EVENTS.contains(&e.as_str()) {
            return Err(FieldError::new(
                "events",
                format!("each must be one of {}", EVENTS.join(", ")),
            ));
        }
        out.push(e);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn secret(raw: String) -> Result<String, FieldError> {
    let ok = (16..=256).contains(&raw.chars().count()) && !raw.chars().any(char::is_control);
    ok.then_some(raw).ok_or_else(|| {
        FieldError::new(
            "secret",
            "must be 16 to 256 characters, none a control character",
        )
    })
}

/// A new secret: 32 random bytes, base64url.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks a URL and the addresses its host resolves to now.
async fn url(state: &AppState, raw: &str) -> Result<String, FieldError> {
    let parsed = webhook::check_url(raw).map_err(|why| FieldError::new("url", why))?;
    if state.config.webhook_allow_hosts.allows(&parsed) {
        return Ok(parsed.into());
    }
    let addresses: Vec<std::net::IpAddr> = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => vec![ip.into()],
        Some(url::Host::Ipv6(ip)) => vec![ip.into()],
        Some(url::Host::Domain(name)) => {
            let port = parsed.port_or_known_default().unwrap_or(443);
            match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port))).await
            {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                // Not resolvable now: accepted; every delivery resolves
                // and checks again.
                _ => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    for ip in addresses {
        if let Some(why) = webhook::refused_address(ip) {
            return Err(FieldError::new(
                "url",
                format!(
                    "resolves to {ip}, {why}: hooks are not delivered inside this network (an operator can allow the host with WEBHOOK_ALLOW_HOSTS)"
                ),
            ));
        }
    }
    Ok(parsed.into())
}

/// Hook `id` if the caller manages it (another's is "not found").
async fn managed(state: &AppState, caller: &Caller, id: u64) -> Result<Webhook, ApiError> {
    let hook = state.store.webhook(id).await?.ok_or_else(not_found)?;
    let mine = match manager(caller)? {
        None => true,
        Some(_) => hook.group_id.is_some_and(|g| caller.admin_of.contains(&g)),
    };
    if mine { Ok(hook) } else { Err(not_found()) }
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::GroupNotFound(_) => ApiError::NotFound("Group not found".into()),
        Refusal::Forbidden => ApiError::Forbidden(
            "A group admin registers hooks for the groups it administers only".into(),
        ),
        Refusal::TooMany => ApiError::Conflict(format!(
            "At most {MAX_WEBHOOKS_PER_GROUP} webhooks per group and {MAX_WEBHOOKS} in all; delete one first"
        )),
        _ => not_found(),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let scope = match manager(&caller)? {
        None => HookScope::All,
        Some(_) => HookScope::Groups(&caller.admin_of),
    };
    let webhooks = state.store.webhooks(scope).await?;
    Ok(ok(WebhookList {
        count: webhooks.len(),
        webhooks,
    }))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> Result<Response, ApiError> {
    let who = manager(&caller)?;
    let group = match body.group_id {
        None if who.is_some() => {
            return Err(
                FieldError::new("group_id", "is required: the group the hook is for").into(),
            );
        }
        None => None,
        Some(g) if g > 0 => Some(g as u64),
        Some(_) => return Err(FieldError::new("group_id", "must be a group id").into()),
    };
    let url = url(&state, body.url.as_deref().unwrap_or("")).await?;
    let events = events(body.events.unwrap_or_default())?;
    let secret = match body.secret {
        Some(s) => secret(s)?,
        None => new_secret(),
    };
    let set = WebhookFields {
        url: Some(url),
        events: Some(events),
        secret: Some(secret.clone()),
        active: Some(body.active.unwrap_or(true)),
    };
    let id = state
        .store
        .create_webhook(who, group, caller.id.map(UserId), &set, &now())
        .await?
        .map_err(refusal)?;
    let webhook = state.store.webhook(id).await?.ok_or_else(not_found)?;
    Ok(created(WebhookCreated {
        message: "Webhook created; copy its secret now, it is not shown again",
        secret,
        webhook,
    }))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = hook_id(&id)?;
    Ok(ok(managed(&state, &caller, id).await?))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateWebhook>,
) -> Result<Response, ApiError> {
    let id = hook_id(&id)?;
    let who = manager(&caller)?;
    managed(&state, &caller, id).await?;
    let set = WebhookFields {
        url: match body.url {
            Some(u) => Some(url(&state, &u).await?),
            None => None,
        },
        events: body.events.map(events).transpose()?,
        secret: body.secret.map(secret).transpose()?,
        active: body.active,
    };
    state
        .store
        .update_webhook(who, id, &set, &now())
        .await?
        .map_err(refusal)?;
    let webhook = state.store.webhook(id).await?.ok_or_else(not_found)?;
    Ok(ok(WebhookMessage {
        message: "Webhook updated",
        webhook,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = hook_id(&id)?;
    let who = manager(&caller)?;
    let webhook = managed(&state, &caller, id).await?;
    state
        .store
        .delete_webhook(who, id, &now())
        .await?
        .map_err(refusal)?;
    Ok(ok(WebhookMessage {
        message: "Webhook deleted",
        webhook,
    }))
}

/// A delivery's stored fields as answered.
fn delivery(f: &taskmaster_shared::model::Fields) -> WebhookDelivery {
    let text = |name: &str| f.get(name).filter(|v| !v.is_empty()).cloned();
    let number = |name: &str| text(name).and_then(|v| v.parse::<i64>().ok());
    let at = |name: &str| {
        number(name)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(taskmaster_shared::time::rfc3339)
    };
    let pending = text("status").as_deref() == Some("pending");
    WebhookDelivery {
        id: text("id").unwrap_or_default(),
        event: text("event").unwrap_or_default(),
        status: text("status").unwrap_or_default(),
        attempts: number("attempts").unwrap_or(0).max(0) as u32,
        created_at: at("created_ms").unwrap_or_default(),
        next_attempt_at: if pending { at("next_ms") } else { None },
        last_attempt_at: at("last_at"),
        last_response_code: number("last_code").and_then(|c| u16::try_from(c).ok()),
        last_duration_ms: number("last_ms").and_then(|m| u64::try_from(m).ok()),
        last_error: text("last_error"),
        payload: text("payload")
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or(serde_json::Value::Null),
    }
}

pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = hook_id(&id)?;
    managed(&state, &caller, id).await?;
    let deliveries: Vec<WebhookDelivery> = state
        .store
        .webhook_deliveries(id)
        .await?
        .iter()
        .map(delivery)
        .collect();
    Ok(ok(WebhookDeliveries {
        count: deliveries.len(),
        deliveries,
    }))
}

pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = hook_id(&id)?;
    let who = manager(&caller)?;
    let gone = || ApiError::NotFound("Delivery not found".into());
    // Only ids that could exist reach Redis: `{ms}-{seq}.{hook}`.
    let plausible = delivery_id.len() <= 64
        && delivery_id
            .split_once('.')
            .is_some_and(|(p, h)| Position::parse(p).is_some() && h == id.to_string());
    if !plausible {
        managed(&state, &caller, id).await?;
        return Err(gone());
    }
    state
        .store
        .redeliver(who, id, &delivery_id, now_ms())
        .await?
        .map_err(|_| gone())?;
    Ok(accepted(Redelivery {
        message: "Delivery queued again",
        delivery_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_known_names_sorted_without_repeats() {
        let e = |list: &[&str]| events(list.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(
            e(&["user.*", "task.created", "user.*"]).expect("valid"),
            ["task.created", "user.*"]
        );
        for bad in [&[][..], &["task.moved"], &["TASK.created"], &["*"]] {
            assert_eq!(e(bad).expect_err("refused").field, "events", "{bad:?}");
        }
        assert!(e(&["task.*"; 17]).is_err());
    }

    #[test]
    fn secrets_are_long_enough_and_plain_and_made_ones_are_fresh() {
        assert!(secret("x".repeat(16)).is_ok());
        assert!(secret("x".repeat(15)).is_err());
        assert!(secret("x".repeat(257)).is_err());
        assert!(secret(format!("{}\n", "x".repeat(20))).is_err());
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
