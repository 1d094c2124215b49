//! The change log into deliveries (see the parent module).

use std::sync::LazyLock;
use std::time::Duration;

use taskmaster_shared::audit::entry_row;
use taskmaster_shared::keys::{Keys, RowType};
use taskmaster_shared::webhook::Webhook;
use tokio::sync::mpsc;

use crate::Control;
use crate::groups::{Entry, group_connection, read};

static ENQUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("../lua/webhook_enqueue.lua")));

/// One delivery to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub hook: u64,
    pub event: String,
    pub payload: String,
}

/// Reads the change log as the group `webhooks` until `control` closes.
pub async fn run(
    client: redis::Client,
    keys: Keys,
    queue_max: usize,
    control: mpsc::Sender<Control>,
    wake: std::sync::Arc<tokio::sync::Notify>,
) {
    let stream = keys.changes();
    while !control.is_closed() {
        let mut conn = match group_connection(&client, &stream, Keys::WEBHOOK_GROUP).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "webhooks: cannot reach Redis or make the group");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut pending = true;
        while !control.is_closed() {
            let from = if pending { "0" } else { ">" };
            let step = async {
                let entries = read(&mut conn, &stream, Keys::WEBHOOK_GROUP, from, !pending).await?;
                if entries.is_empty() {
                    return Ok(0);
                }
                let hooks = active_hooks(&mut conn, &keys).await?;
                let deliveries = deliveries(&entries, &hooks);
                let ids: Vec<String> = entries.iter().map(|(p, _)| p.to_string()).collect();
                let mut inv = ENQUEUE.prepare_invoke();
                inv.arg(keys.prefix())
                    .arg(chrono::Utc::now().timestamp_millis())
                    .arg(queue_max)
                    .arg(ids.len())
                    .arg(&ids);
                for d in &deliveries {
                    inv.arg(&d.id).arg(d.hook).arg(&d.event).arg(&d.payload);
                }
                let made: u64 = inv.invoke_async(&mut conn).await?;
                if made > 0 {
                    tracing::debug!(webhooks.made = made, "webhook deliveries queued");
                    wake.notify_one();
                }
                Ok::<_, redis::RedisError>(entries.len())
            };
            match step.await {
                Ok(0) => pending = false,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: lost the change log's read; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Every active hook.
async fn active_hooks(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> redis::RedisResult<Vec<Webhook>> {
    let ids: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(keys.all(RowType::Webhook))
        .query_async(conn)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HGETALL").arg(keys.row(RowType::Webhook, *id));
    }
    let rows: Vec<std::collections::HashMap<String, String>> = pipe.query_async(conn).await?;
    Ok(rows
        .iter()
        .filter_map(Webhook::from_fields)
        .filter(|h| h.active)
        .collect())
}

/// The deliveries `entries` make for `hooks`, in order.
pub fn deliveries(entries: &[Entry], hooks: &[Webhook]) -> Vec<Delivery> {
    let mut out = Vec::new();
    for (position, fields) in entries {
        let get = |name: &str| taskmaster_shared::audit::field(fields, name);
        let (
            Some(kind @ ("task" | "user" | "group")),
            Some(op @ ("created" | "updated" | "deleted")),
        ) = (get("type"), get("op"))
        else {
            continue;
        };
        let event = format!("{kind}.{op}");
        let concerns = |group: u64| {
            let g = group.to_string();
            match kind {
                "task" => get("group") == Some(g.as_str()) || get("old_group") == Some(g.as_str()),
                "user" => get("groups").is_some_and(|list| list.split(',').any(|x| x == g)),
                _ => get("id") == Some(g.as_str()),
            }
        };
        let mut data = None;
        for hook in hooks {
            if !hook.wants(&event) || !hook.group_id.is_none_or(concerns) {
                continue;
            }
            let id = format!("{position}.{}", hook.id);
            let data = data.get_or_insert_with(|| entry_row(fields));
            let payload = serde_json::json!({
                "event": event,
                "delivery_id": id,
                "occurred_at": get("at").unwrap_or_default(),
                "actor": get("actor").unwrap_or_default(),
                "data": data,
            });
            out.push(Delivery {
                id,
                hook: hook.id,
                event: event.clone(),
                payload: payload.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::position::Position;

    fn hook(id: u64, group: Option<u64>, events: &[&str]) -> Webhook {
        Webhook {
            id,
            group_id: group,
            url: "https://x.example/h".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            active: true,
            created_by: None,
            created_at: String::new(),
            updated_at: String::new(),
            secret: "s".repeat(20),
        }
    }

    fn entry(ms: u64, pairs: &[(&str, &str)]) -> Entry {
        (
            Position { ms, seq: 0 },
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn a_group_hook_gets_only_its_groups_entries_and_a_global_hook_all_it_wants() {
        let row = r#"{"id":7,"title":"t","group_id":1}"#;
        let entries = [
            entry(
                1,
                &[
                    ("type", "task"),
                    ("op", "created"),
                    ("id", "7"),
                    ("group", "1"),
                    ("user", "3"),
                    ("row", row),
                    ("actor", "3"),
                    ("at", "T"),
                ],
            ),
            entry(
                2,
                &[
                    ("type", "task"),
                    ("op", "updated"),
                    ("id", "8"),
                    ("group", "2"),
                    ("user", "3"),
                    ("row", row),
                ],
            ),
            entry(
                3,
                &[
                    ("type", "task"),
                    ("op", "updated"),
                    ("id", "9"),
                    ("group", "2"),
                    ("old_group", "1"),
                    ("row", row),
                ],
            ),
            entry(
                4,
                &[
                    ("type", "user"),
                    ("op", "updated"),
                    ("id", "3"),
                    ("groups", "2,1"),
                ],
            ),
            entry(5, &[("type", "group"), ("op", "deleted"), ("id", "2")]),
            entry(
                6,
                &[
                    ("type", "token"),
                    ("op", "created"),
                    ("id", "abc"),
                    ("user", "3"),
                ],
            ),
        ];
        let hooks = [
            hook(1, None, &["task.*"]),
            hook(2, Some(1), &["task.*", "user.*", "group.*"]),
            hook(3, Some(2), &["group.deleted"]),
        ];
        let made: Vec<String> = deliveries(&entries, &hooks)
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(
            made,
            [
                "1-0.1", "1-0.2", "2-0.1", "3-0.1", "3-0.2", "4-0.2", "5-0.3"
            ]
        );
        let first = &deliveries(&entries[..1], &hooks[..1])[0];
        let payload: serde_json::Value = serde_json::from_str(&first.payload).expect("json");
        assert_eq!(
            payload,
            serde_json::json!({"event": "task.created", "delivery_id": "1-0.1", "occurred_at": "T",
                               "actor": "3", "data": {"id": 7, "title": "t", "group_id": 1}})
        );
    }
}
