//! Sending what is due, within the per-hook and overall bounds, and
//! recording each attempt (see the parent module).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use taskmaster_shared::config::WebhookConfig;
use taskmaster_shared::keys::Keys;
use tokio::sync::{Notify, Semaphore, mpsc};

use super::send::{Attempt, Sender};
use crate::Control;

static CLAIM: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("../lua/webhook_claim.lua")));
static RESULT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("../lua/webhook_result.lua")));

/// How often the queue is looked at.
const TICK: Duration = Duration::from_millis(100);
/// Due deliveries of one hook read per look, at most.
const BATCH: usize = 256;
/// The longest wait between two attempts.
const RETRY_MAX: Duration = Duration::from_secs(3600);

/// When attempt `failed + 1` is due after `failed` failures: the base
/// doubled each time, at most an hour, plus up to a fifth of jitter (so
/// that hooks failing together do not retry together).
pub fn backoff(base: Duration, failed: u32, jitter_seed: u64) -> Duration {
    let wait = base
        .saturating_mul(1u32 << failed.saturating_sub(1).min(20))
        .min(RETRY_MAX);
    let fifth = wait.as_millis() as u64 / 5;
    wait + Duration::from_millis(if fifth == 0 { 0 } else { jitter_seed % fifth })
}

/// Sends due deliveries until `control` closes.
pub async fn run(
    client: redis::Client,
    keys: Keys,
    config: WebhookConfig,
    control: mpsc::Sender<Control>,
    wake: Arc<Notify>,
) {
    let sender = match Sender::new(&config) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; no deliveries");
            return;
        }
    };
    let all = Arc::new(Semaphore::new(config.in_flight));
    let mut per_hook: HashMap<u64, Arc<Semaphore>> = HashMap::new();
    let lease = config.timeout + config.connect_timeout + Duration::from_secs(30);
    let jitter = RandomState::new();
    let mut connection = None;
    while !control.is_closed() {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
        let mut conn = match &connection {
            Some(c) => Clone::clone(c),
            None => match client.get_multiplexed_async_connection().await {
                Ok(c) => {
                    connection = Some(c.clone());
                    c
                }
                Err(_) => continue,
            },
        };
        let now = chrono::Utc::now().timestamp_millis();
        let hooks: Vec<u64> = match redis::cmd("SMEMBERS")
            .arg(keys.webhooks_due_hooks())
            .query_async(&mut conn)
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(error = %e, "webhooks: cannot read the queue");
                connection = None;
                continue;
            }
        };
        // Each hook's own queue, up to its free slots: a hook with a long
        // queue (a receiver that is down, or slow) never hides another's.
        // One pipeline reads every hook's due deliveries.
        let mut asked: Vec<(u64, Arc<Semaphore>)> = Vec::new();
        let mut pipe = redis::pipe();
        for hook in hooks {
            let slots = per_hook
                .entry(hook)
                .or_insert_with(|| Arc::new(Semaphore::new(config.per_hook)))
                .clone();
            let free = slots.available_permits().min(BATCH);
            if free == 0 {
                continue;
            }
            pipe.cmd("ZRANGEBYSCORE")
                .arg(keys.webhooks_due(hook))
                .arg("-inf")
                .arg(now)
                .arg("LIMIT")
                .arg(0)
                .arg(free);
            asked.push((hook, slots));
        }
        let found: Vec<Vec<String>> = if asked.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn).await.unwrap_or_default()
        };
        let mut due: Vec<(u64, String, tokio::sync::OwnedSemaphorePermit)> = Vec::new();
        for ((hook, slots), ids) in asked.into_iter().zip(found) {
            for id in ids {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    break;
                };
                due.push((hook, id, permit));
            }
        }
        for (hook, id, hook_permit) in due {
            let Ok(permit) = all.clone().try_acquire_owned() else {
                break;
            };
            let claimed: Option<(String, String, String, String, u32, i64)> = match CLAIM
                .arg(keys.prefix())
                .arg(hook)
                .arg(&id)
                .arg(now)
                .arg(lease.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "webhooks: cannot claim a delivery");
                    continue;
                }
            };
            let Some((url, secret, event, payload, attempts, created_ms)) = claimed else {
                continue;
            };
            let (sender, keys, mut conn, config, wake) = (
                sender.clone(),
                keys.clone(),
                conn.clone(),
                config.clone(),
                wake.clone(),
            );
            let seed = jitter.hash_one(&id);
            tokio::spawn(async move {
                let permits = (permit, hook_permit);
                let (attempt, took) = sender.send(&url, &secret, &id, &event, payload).await;
                let done = chrono::Utc::now().timestamp_millis();
                let (outcome, next, code, error) = match attempt {
                    Attempt::Delivered { code } => ("delivered", 0, Some(code), String::new()),
                    Attempt::Refused { error } => ("dead", 0, None, error),
                    Attempt::Failed { code, error } => {
                        let wait = backoff(config.retry_base, attempts + 1, seed);
                        let next = done + wait.as_millis() as i64;
                        let window_ends = created_ms + config.retry_window.as_millis() as i64;
                        if next > window_ends {
                            ("dead", 0, code, error)
                        } else {
                            ("retry", next, code, error)
                        }
                    }
                };
                if outcome == "dead" {
                    tracing::warn!(webhook.delivery = %id, error = %error, "webhook delivery given up (dead letter)");
                }
                let recorded: redis::RedisResult<i64> = RESULT
                    .arg(keys.prefix())
                    .arg(&id)
                    .arg(outcome)
                    .arg(next)
                    .arg(code.map(|c| c.to_string()).unwrap_or_default())
                    .arg(took.as_millis() as u64)
                    .arg(&error)
                    .arg(done)
                    .invoke_async(&mut conn)
                    .await;
                if let Err(e) = recorded {
                    // The claim lapses and the delivery is sent again.
                    tracing::warn!(error = %e, webhook.delivery = %id, "webhooks: cannot record an attempt");
                }
                // The hook's slot is free: what waited for it may go.
                drop(permits);
                wake.notify_one();
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_base_up_to_an_hour_with_a_fifth_of_jitter() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 1, 0), Duration::from_secs(10));
        assert_eq!(backoff(base, 2, 0), Duration::from_secs(20));
        assert_eq!(backoff(base, 4, 0), Duration::from_secs(80));
        assert_eq!(backoff(base, 30, 0), RETRY_MAX);
        let jittered = backoff(base, 1, 1_999);
        assert_eq!(jittered, Duration::from_millis(11_999));
        assert!(backoff(base, 1, u64::MAX) < Duration::from_secs(12));
    }
}
