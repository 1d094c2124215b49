//! Webhook deliveries: syncd turns the change log into signed HTTP POSTs.
//!
//! * [`enqueue`]: a consumer group (`webhooks`) on `P changes`. For every
//!   task, user or group entry, one delivery per active hook that wants
//!   its event and may see it (a group's hook: only what concerns the
//!   group), with the id `{entry position}.{hook id}`: one per event per
//!   hook, so receivers can de-duplicate. The deliveries of a batch are
//!   made and its entries acknowledged in one script.
//! * [`dispatch`]: sends what is due (each hook's `P webhooks:due:{id}`), at most
//!   `WEBHOOK_PER_HOOK` at a time to one hook and `WEBHOOK_IN_FLIGHT` in
//!   all, so a slow receiver holds up only its own hook; a failed attempt
//!   is retried with exponential backoff and jitter until
//!   `WEBHOOK_RETRY_WINDOW`, then the delivery is dead (a dead letter,
//!   listed with its last error and redeliverable).
//! * [`send`]: one attempt with `reqwest` (rustls): no redirects, timeouts
//!   on the connection and the whole request, the address checked when it
//!   is resolved (loopback, private, link-local and metadata addresses are
//!   refused unless `WEBHOOK_ALLOW_HOSTS` names the host), and the
//!   signature `X-Taskmaster-Signature: sha256=HMAC-SHA256(secret,
//!   timestamp + "." + body)`.
//!
//! Every syncd instance runs them: the enqueue is idempotent and a claim
//! is atomic, so instances share the work and a standby keeps it going.

pub mod dispatch;
pub mod enqueue;
pub mod send;

use taskmaster_shared::config::WebhookConfig;
use taskmaster_shared::keys::Keys;
use tokio::sync::mpsc;

use crate::Control;

/// Starts the enqueue consumer and the dispatcher; they stop when
/// `control` closes.
pub fn spawn(
    client: redis::Client,
    keys: Keys,
    config: WebhookConfig,
    control: mpsc::Sender<Control>,
) {
    // reqwest is built without a crypto provider (see Cargo.toml): ring.
    // rustls deprecates it for lacking post-quantum key exchange; the one
    // with it, aws-lc-rs, needs cmake and a long C build on every machine.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
    // New deliveries, and finished ones (a hook's slot is free), wake the
    // dispatcher at once; it also looks every 100 ms (other instances'
    // deliveries, retries falling due).
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    tokio::spawn(enqueue::run(
        client.clone(),
        keys.clone(),
        config.queue_max,
        control.clone(),
        wake.clone(),
    ));
    if config.deliver {
        tokio::spawn(dispatch::run(client, keys, config, control, wake));
    } else {
        tracing::warn!("WEBHOOK_DELIVERY=off: webhook deliveries are queued, never sent");
    }
}
