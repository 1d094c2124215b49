//! Webhooks as the fourth durable row type: written behind, deleted,
//! backed up and restored, their counter kept, as for users, groups and
//! tasks. The rows are made here as the api's scripts make them (the
//! layout of `shared/src/keys/mod.rs`).

use hyper::StatusCode;
use taskmaster_shared::keys::RowType;
use taskmaster_tests::{TestApp, spawn_app};

use crate::restore::{admin_sync, backup_dir, backup_now, backup_text, syncd_for};

/// Writes hook `id` (of group `group`, or global) as a write script would,
/// marked dirty.
async fn put_hook(app: &TestApp, id: u64, group: Option<u64>, url: &str) {
    let mut redis = app.redis().await;
    let k = &app.keys;
    let mut pipe = redis::pipe();
    pipe.atomic()
        .hset_multiple(
            k.row(RowType::Webhook, id),
            &[
                ("id", id.to_string()),
                ("group", group.map(|g| g.to_string()).unwrap_or_default()),
                ("url", url.to_owned()),
                ("events", "task.*,user.deleted".to_owned()),
                ("secret", format!("secret-of-hook-{id}-0123456789")),
                ("active", "1".to_owned()),
                ("created_by", String::new()),
                ("created_at", "2026-12-05T10:00:00Z".to_owned()),
                ("updated_at", "2026-12-05T10:00:01Z".to_owned()),
            ],
        )
        .sadd(k.all(RowType::Webhook), id)
        .sadd(k.dirty(RowType::Webhook), id)
        .cmd("SET")
        .arg(k.sequence(RowType::Webhook))
        .arg(id);
    if let Some(g) = group {
        pipe.sadd(k.group_webhooks(g), id);
    }
    let () = pipe.query_async(&mut redis).await.expect("hook written");
}

async fn hooks_in_postgres(
    pg: &tokio_postgres::Client,
) -> Vec<(i64, Option<i64>, String, Vec<String>, String)> {
    pg.query(
        "SELECT id, group_id, url, events, secret FROM webhooks ORDER BY id",
        &[],
    )
    .await
    .expect("webhooks")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

#[tokio::test]
async fn webhooks_are_written_behind_deleted_backed_up_and_restored() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, pg) = syncd_for(&app, &dir).await;
    let (_admin, g, _user) = app.seed_team().await;
    put_hook(&app, 1, None, "https://hooks.example.com/a").await;
    put_hook(&app, 2, Some(g), "https://hooks.example.com/b").await;
    put_hook(&app, 3, Some(g), "https://hooks.example.com/c").await;
    let res = admin_sync(&app, "action=force").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        res.json()["data"]["upserted"]["webhooks"],
        3,
        "{}",
        res.text()
    );
    let rows = hooks_in_postgres(&pg).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[1],
        (
            2,
            Some(g as i64),
            "https://hooks.example.com/b".to_owned(),
            vec!["task.*".to_owned(), "user.deleted".to_owned()],
            "secret-of-hook-2-0123456789".to_owned()
        )
    );
    assert_eq!(rows[0].1, None, "a global hook has no group");

    // A delete is written behind too.
    {
        let mut redis = app.redis().await;
        let k = &app.keys;
        let () = redis::pipe()
            .atomic()
            .del(k.row(RowType::Webhook, 3))
            .srem(k.all(RowType::Webhook), 3)
            .srem(k.group_webhooks(g), 3)
            .sadd(k.dirty(RowType::Webhook), 3)
            .query_async(&mut redis)
            .await
            .expect("hook deleted");
    }
    assert_eq!(
        admin_sync(&app, "action=force").await.status,
        StatusCode::OK
    );
    assert_eq!(hooks_in_postgres(&pg).await.len(), 2);

    // In the backup, and back from it with its indexes on a new system.
    let file = backup_now(&app).await;
    assert!(backup_text(&dir, &file).contains("\ntable webhooks id,group_id,url,events,secret,"));
    let fresh = spawn_app().await;
    let (_fresh_syncd, fresh_pg) = syncd_for(&fresh, &dir).await;
    let res = admin_sync(&fresh, &format!("action=restore&from={file}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        res.json()["data"]["loaded"]["webhooks"],
        2,
        "{}",
        res.text()
    );
    assert_eq!(
        hooks_in_postgres(&fresh_pg).await,
        hooks_in_postgres(&pg).await
    );
    let mut redis = fresh.redis().await;
    let k = &fresh.keys;
    let hook: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(k.row(RowType::Webhook, 2))
        .query_async(&mut redis)
        .await
        .expect("hgetall");
    assert_eq!(hook["url"], "https://hooks.example.com/b");
    assert_eq!(hook["events"], "task.*,user.deleted");
    assert_eq!(hook["group"], g.to_string());
    assert_eq!(hook["active"], "1");
    let all: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(k.all(RowType::Webhook))
        .query_async(&mut redis)
        .await
        .expect("smembers");
    let of_group: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(k.group_webhooks(g))
        .query_async(&mut redis)
        .await
        .expect("smembers");
    let mut all = all;
    all.sort_unstable();
    assert_eq!((all, of_group), (vec![1, 2], vec![2]));
    // The counter is past every id handed out, the deleted one included.
    let seq: u64 = redis::cmd("GET")
        .arg(k.sequence(RowType::Webhook))
        .query_async(&mut redis)
        .await
        .expect("seq");
    assert!(seq >= 3, "seq:webhooks {seq}");
    let _ = std::fs::remove_dir_all(&dir);
}
