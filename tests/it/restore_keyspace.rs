//! A restore rebuilds every key it removed: the whole keyspace of a varied
//! dataset, dumped before a backup and after a wipe and a restore, is the
//! same, but for the epoch fields (`tv`, `cv`), which may only grow. Then
//! what depends on the indexes still works.

use std::collections::BTreeMap;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp};

use crate::restore::{admin_sync, backup_dir, syncd_for};

/// One key's type and value, in a comparable form.
#[derive(Debug, PartialEq)]
enum Dumped {
    /// A task row, parsed (its escapes may be written either way).
    Json(Value),
    Text(String),
    Hash(BTreeMap<String, String>),
    Set(Vec<String>),
}

/// Every data key of the app's prefix (rows, indexes, counters, the owner
/// record), with its type and value. syncd's own keys and the write-behind
/// sets are left out: they say what is pending, not what the data is.
async fn dump(app: &TestApp) -> BTreeMap<String, Dumped> {
    let mut redis = app.redis().await;
    let prefix = app.keys.prefix().to_owned();
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await
            .expect("scan");
        keys.extend(found);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut out = BTreeMap::new();
    for key in keys {
        let rest = key.strip_prefix(&prefix).expect("prefixed").to_owned();
        // Operations' keys, and the rate limiter's and login limiter's
        // counts, which are not durable data.
        if [
            "syncd:",
            "dirty:",
            "inflight:",
            "control",
            "rate:",
            "limit:",
            // The change log is not data: a restore empties it and appends
            // a reset (tests/it/feed.rs).
            "changes",
        ]
        .iter()
        .any(|p| rest.starts_with(p))
            || rest == "maintenance"
        {
            continue;
        }
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .expect("type");
        let value = match kind.as_str() {
            "string" => {
                let text: String = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .expect("get");
                if rest.starts_with("task:") {
                    Dumped::Json(serde_json::from_str(&text).expect("a task row"))
                } else {
                    Dumped::Text(text)
                }
            }
            "hash" => Dumped::Hash(
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .expect("hgetall"),
            ),
            "set" => {
                let mut members: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .expect("smembers");
                members.sort();
                Dumped::Set(members)
            }
            // An order index: its members (all of score 0) in order.
            "zset" => Dumped::Set(
                redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut redis)
                    .await
                    .expect("zrange"),
            ),
            other => panic!("{key} has an unexpected type {other}"),
        };
        out.insert(rest, value);
    }
    out
}

/// Asserts that `after` holds the same keys and values as `before`, the
/// epoch fields only grown; each counter is handed to `counter` with its
/// value before.
fn assert_same_keyspace(
    before: &BTreeMap<String, Dumped>,
    epochs_before: &BTreeMap<String, u64>,
    after: &mut BTreeMap<String, Dumped>,
    counter: impl Fn(u64, u64),
) {
    let epochs_after = epochs(after);
    // A counter no row had used yet may appear, raised (a counter
    // missing is 0).
    let appeared: Vec<String> = after
        .keys()
        .filter(|k| k.starts_with("seq:") && !before.contains_key(*k))
        .cloned()
        .collect();
    for key in appeared {
        let Some(Dumped::Text(a)) = after.remove(&key) else {
            panic!("{key} is not a counter");
        };
        counter(a.parse().expect("seq"), 0);
    }
    let keys_before: Vec<&String> = before.keys().collect();
    let keys_after: Vec<&String> = after.keys().collect();
    assert_eq!(keys_after, keys_before, "the same keys");
    for (key, value) in before {
        if key.starts_with("seq:") {
            let (Dumped::Text(b), Some(Dumped::Text(a))) = (value, after.get(key)) else {
                panic!("{key}: {value:?} / {:?}", after.get(key));
            };
            counter(a.parse().expect("seq"), b.parse().expect("seq"));
            continue;
        }
        assert_eq!(after.get(key), Some(value), "{key}");
    }
    for (key, was) in epochs_before {
        let now = epochs_after.get(key).copied().unwrap_or(0);
        assert!(now >= *was, "{key} went back from {was} to {now}");
    }
}

/// Takes the epoch fields out of `dump`: `(key, before)` of every `tv` and
/// `cv`, so the rest can be compared as it is.
fn epochs(dump: &mut BTreeMap<String, Dumped>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, value) in dump.iter_mut() {
        match value {
            Dumped::Hash(fields) if key.starts_with("user:") => {
                if let Some(tv) = fields.remove("tv") {
                    out.insert(format!("{key} tv"), tv.parse().expect("tv"));
                }
            }
            Dumped::Text(text) if key.ends_with(":cv") => {
                out.insert(key.clone(), text.parse().expect("cv"));
                *text = String::new();
            }
            _ => {}
        }
    }
    out
}

async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let res = app.call(method, path, &Auth::Owner, body).await;
    assert!(res.status.is_success(), "{path}: {}", res.text());
    res.json()
}

#[tokio::test]
async fn a_restore_rebuilds_every_row_and_index_exactly() {
    let dir = backup_dir();
    let app = taskmaster_tests::spawn_app().await;
    let (_syncd, _pg) = syncd_for(&app, &dir).await;

    // Admins of several groups, members of several groups.
    let ga = app.seed_user("group_admin", &[]).await;
    let ga2 = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(ga.id).await;
    let g2 = app.seed_group(ga.id).await;
    let g3 = app.seed_group(ga2.id).await;
    let g_gone = app.seed_group(ga2.id).await;
    let u1 = app.seed_user("user", &[g1, g2, g3]).await;
    let u2 = app.seed_user("user", &[g2]).await;
    let u_gone = app.seed_user("user", &[g1]).await;
    let mut tasks = Vec::new();
    for (user, group) in [
        (u1.id, g1),
        (u1.id, g2),
        (u1.id, g3),
        (u2.id, g2),
        (ga.id, g1),
    ] {
        tasks.push(app.seed_task(user, group, "a/b \"c\" ✓").await);
    }
    app.seed_task(u_gone.id, g1, "goes with its user").await;
    app.seed_task(ga2.id, g_gone, "goes with its group").await;
    // Labels and states: labels on a task that then moves to another group
    // (and, when its user leaves that group, on to a third), labels
    // renamed across a group, a label whose only task is deleted (its
    // index keys go with it).
    let u1p = format!("/users/{}/tasks", u1.id);
    for (path, body) in [
        (
            format!("{u1p}/{}", tasks[0]),
            json!({"labels": ["x", "日本 ✓"], "state": "in_progress"}),
        ),
        (
            format!("{u1p}/{}", tasks[2]),
            json!({"labels": ["only on a deleted task"]}),
        ),
        (
            format!("/users/{}/tasks/{}", u2.id, tasks[3]),
            json!({"labels": ["bug", "x"], "state": "done"}),
        ),
        (
            format!("/users/{}/tasks/{}", ga.id, tasks[4]),
            json!({"labels": ["bug", "a:b"]}),
        ),
    ] {
        ok(&app, Method::PUT, &path, Some(body)).await;
    }
    ok(
        &app,
        Method::POST,
        &format!("/groups/{g1}/labels/rename"),
        Some(json!({"from": "bug", "to": "defect"})),
    )
    .await;
    // A task moved to another group, one done, one deleted.
    ok(
        &app,
        Method::PUT,
        &format!("{u1p}/{}", tasks[0]),
        Some(json!({"group_id": g3, "title": "moved"})),
    )
    .await;
    ok(&app, Method::PUT, &format!("{u1p}/{}/done", tasks[1]), None).await;
    ok(&app, Method::DELETE, &format!("{u1p}/{}", tasks[2]), None).await;
    // A renamed group with a new admin, a changed email, a removed member,
    // a deleted user and a deleted group.
    ok(
        &app,
        Method::PUT,
        &format!("/groups/{g2}"),
        Some(json!({"name": "Renamed", "admin_id": ga2.id})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        &format!("/users/{}", u2.id),
        Some(json!({"email": format!("changed{}@example.com", u2.id)})),
    )
    .await;
    ok(
        &app,
        Method::DELETE,
        &format!("/groups/{g3}/users/{}", u1.id),
        None,
    )
    .await;
    ok(&app, Method::DELETE, &format!("/users/{}", u_gone.id), None).await;
    ok(&app, Method::DELETE, &format!("/groups/{g_gone}"), None).await;
    // Personal tokens (one revoked), and a deactivated user.
    let mut made = Vec::new();
    for body in [
        json!({"name": "deploy ✓"}),
        json!({"name": "read", "read_only": true, "expires_in": 3600}),
        json!({"name": "revoked"}),
    ] {
        let res = app
            .call(Method::POST, "/auth/tokens", &u1.auth(), Some(body))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        made.push(
            res.json()["data"]["api_token"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let res = app
        .call(
            Method::DELETE,
            &format!("/auth/tokens/{}", made[2]),
            &u1.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    ok(
        &app,
        Method::PUT,
        &format!("/users/{}", u2.id),
        Some(json!({"active": false})),
    )
    .await;

    // Tasks imported: rows like any other; their job is not durable.
    let res = app
        .upload(
            &format!("/users/{}/tasks/import", u1.id),
            &u1.auth(),
            "text/csv",
            format!("title,group_id,labels\nimported ✓,{g1},\"[\"\"x\"\"]\"\nagain,{g2},\n"),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let job = format!("job:{}", res.json()["data"]["id"]);

    let res = admin_sync(&app, "action=backup").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let mut before = dump(&app).await;
    assert!(before.remove(&job).is_some(), "{before:?}");
    assert!(
        before.contains_key(&format!("group:{g1}:tasks")),
        "{before:?}"
    );
    assert!(
        before.contains_key(&format!("group:{g1}:label:defect"))
            && before.contains_key(&format!("group:{g1}:label:日本 ✓"))
            && before.contains_key(&format!("group:{g2}:labels"))
            && !before.contains_key(&format!("group:{g1}:label:bug"))
            && !before
                .keys()
                .any(|k| k.ends_with(":label:only on a deleted task")),
        "{before:?}"
    );
    assert!(
        before.contains_key(&format!("user:{}:admin_of", ga.id)),
        "{before:?}"
    );
    assert!(
        before.contains_key(&format!("token:{}", made[0]))
            && before.contains_key(&format!("user:{}:tokens", u1.id))
            && !before.contains_key(&format!("token:{}", made[2])),
        "{before:?}"
    );

    let epochs_before = epochs(&mut before);

    // A restore removes every data key and rebuilds it from PostgreSQL.
    let res = admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let mut after = dump(&app).await;
    assert!(!after.contains_key(&job), "a restore ends every job");
    assert_same_keyspace(&before, &epochs_before, &mut after, |now, was| {
        assert!(now >= was, "a counter went back from {was} to {now}");
    });

    // The same after Redis lost everything (a wipe of the prefix), but for
    // `meta:owner` and the counters: PostgreSQL has no copy of either yet
    // (which password bootstrap gave the owner account; the last id handed
    // out), so a restore keeps the first and raises the counters to the
    // highest id it loads, no further.
    let mut redis = app.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.keys.prefix()))
        .query_async(&mut redis)
        .await
        .expect("keys");
    let data: Vec<&String> = keys
        .iter()
        .filter(|k| !k.contains("syncd:") && !k.ends_with("meta:owner"))
        .collect();
    let _: () = redis::cmd("DEL")
        .arg(&data)
        .query_async(&mut redis)
        .await
        .expect("wipe");
    let res = admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let mut after = dump(&app).await;
    // Nor of the job counter: no job outlives a restore, so the ids may
    // start again.
    assert!(before.remove("seq:jobs").is_some() && !after.contains_key("seq:jobs"));
    // The wipe took `meta:ids_run` too: syncd found counters below
    // PostgreSQL's ids, as after a lost second, and skipped them ahead,
    // recording the task ids skipped.
    if let Some(Dumped::Set(gaps)) = after.remove("meta:id_gaps") {
        assert_eq!(gaps.len(), 1, "{gaps:?}");
    }
    let highest = |kind: &str| {
        before
            .keys()
            .filter_map(|k| k.strip_prefix(kind)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    };
    let floors = [
        ("seq:users", highest("user:")),
        ("seq:groups", highest("group:")),
        ("seq:tasks", highest("task:")),
    ];
    assert_same_keyspace(&before, &epochs_before, &mut after, |_, _| {});
    for (name, floor) in floors {
        let Some(Dumped::Text(now)) = after.get(name) else {
            panic!("{name} is gone");
        };
        let now: u64 = now.parse().expect("a counter");
        assert!(
            now >= floor,
            "{name} is {now}, below the highest id {floor}"
        );
    }

    // What the indexes carry still works: a group admin manages its
    // group's tasks, and deleting a group deletes its tasks.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{}/done", u1.id, tasks[0]),
            &ga2.auth(),
            None,
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "back in g1 since u1 left g3; ga2 has g2 and g3 only: {}",
        res.text()
    );
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{}/done", u2.id, tasks[3]),
            &ga2.auth(),
            None,
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "ga2 now administers g2: {}",
        res.text()
    );
    let deleted = ok(&app, Method::DELETE, &format!("/groups/{g1}"), None).await;
    // Two made by POST, one imported.
    assert_eq!(deleted["data"]["deleted_tasks"], 3, "{deleted}");
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{}", ga.id, tasks[4]),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
    let _ = std::fs::remove_dir_all(&dir);
}
