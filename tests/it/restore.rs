//! Backup and restore through the control channel, with real syncd
//! processes, Redis and PostgreSQL.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{
    Auth, ChildProcess, TestApp, TestResponse, connect_pg, eventually, shared, spawn_app, unique,
};

use crate::sync::assert_same;

pub(crate) fn backup_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tm-backups-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("backup dir");
    dir
}

/// A syncd process for `app` on a new database, writing backups to `dir`;
/// returns once it answers control requests.
pub(crate) async fn syncd_for(app: &TestApp, dir: &Path) -> (ChildProcess, tokio_postgres::Client) {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let dir = dir.display().to_string();
    let env = app.syncd_env(
        &url,
        &[("SYNC_INTERVAL", "1h"), ("BACKUP_DIR", dir.as_str())],
    );
    let syncd = ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts");
    app.wait_for_active_syncd(&syncd).await;
    (syncd, connect_pg(&url).await.expect("pg"))
}

pub(crate) async fn admin_sync(app: &TestApp, query: &str) -> TestResponse {
    app.call(
        Method::POST,
        &format!("/admin/sync?{query}"),
        &Auth::Owner,
        None,
    )
    .await
}

/// Everything a client can read, as the owner.
async fn everything(app: &TestApp) -> Value {
    let users = app.call(Method::GET, "/users", &Auth::Owner, None).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.text());
    let users = users.json()["data"].clone();
    let mut tasks = Vec::new();
    let mut work_times = Vec::new();
    for u in users["users"].as_array().expect("users") {
        let id = &u["id"];
        let res = app
            .call(
                Method::GET,
                &format!("/users/{id}/tasks"),
                &Auth::Owner,
                None,
            )
            .await;
        tasks.push(res.json()["data"].clone());
        let res = app
            .call(
                Method::GET,
                &format!("/users/{id}/worktimes"),
                &Auth::Owner,
                None,
            )
            .await;
        work_times.push(res.json()["data"].clone());
    }
    let groups = app.call(Method::GET, "/groups", &Auth::Owner, None).await;
    json!({"users": users, "groups": groups.json()["data"], "tasks": tasks, "work_times": work_times})
}

/// A small team with Unicode text, memberships, work times and tasks.
async fn seed(app: &TestApp) -> (taskmaster_tests::Seeded, u64) {
    let admin = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(admin.id).await;
    let g2 = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[g1, g2]).await;
    for (i, g) in [g1, g2, g1].into_iter().enumerate() {
        app.seed_task(u.id, g, &format!("ünïcode ✓ \"{i}\"\ttab"))
            .await;
    }
    let t = app.seed_task(admin.id, g2, "admin's").await;
    // Labels PostgreSQL's array text must quote (NULL, braces, commas,
    // quotes, backslashes) or that are not ASCII, and a state.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{t}", admin.id),
            &Auth::Owner,
            Some(
                json!({"labels": ["NULL", "null", "{e,f}", "a\"b", "c\\d", "ü ✓", "x y"],
                        "state": "in_progress"}),
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/worktimes", u.id),
            &Auth::Owner,
            Some(json!({"work_times": {"Monday": 7.5, "friday": 4}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    (u, g1)
}

#[tokio::test]
async fn a_backup_restored_into_an_empty_system_reproduces_every_row() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = syncd_for(&app, &dir).await;
    let (u, g1) = seed(&app).await;
    // The highest id handed out is deleted: the backup still knows it.
    let gone = app.seed_task(u.id, g1, "deleted before the backup").await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}/tasks/{gone}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        admin_sync(&app, "action=force").await.status,
        StatusCode::OK
    );
    let before = everything(&app).await;

    let res = admin_sync(&app, "action=backup").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let info = res.json()["data"].clone();
    let file = info["file"].as_str().expect("file").to_owned();
    assert_eq!(info["rows"]["tasks"], 4, "{info}");
    assert_eq!(info["rows"]["users"], 3, "{info}");
    assert!(dir.join(&file).exists() && dir.join(format!("{file}.sha256")).exists());

    // A new system: its own key prefix and an empty database.
    let fresh = spawn_app().await;
    let (_fresh_syncd, fresh_pg) = syncd_for(&fresh, &dir).await;
    // The new system's own rows (its owner at least) are what the restore
    // removes first.
    let own_rows = crate::limits::keys_like(&fresh, "user:*").await;
    assert!(!own_rows.is_empty());
    let res = admin_sync(&fresh, &format!("action=restore&from={file}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let removed = res.json()["data"]["loaded"]["removed_keys"].as_u64();
    assert!(
        removed.is_some_and(|n| n >= own_rows.len() as u64),
        "removed_keys {removed:?}, the system held {own_rows:?}"
    );
    // Each kind of row is counted as it is loaded: what the operator reads
    // to know the restore brought back what the backup held. (The group
    // admin is a member of both groups, the user of both.)
    let loaded = &res.json()["data"]["loaded"];
    for (kind, n) in [
        ("users", 3),
        ("groups", 2),
        ("memberships", 4),
        ("tasks", 4),
        ("tokens", 0),
        ("webhooks", 0),
        ("unfinished_leaves", 0),
    ] {
        assert_eq!(loaded[kind], n, "{kind}: {loaded}");
    }

    assert_eq!(everything(&fresh).await, before);
    assert_same(&fresh, &fresh_pg).await;
    // Credential versions start at the restore's epoch (its time in
    // microseconds), past any version a credential was remembered against.
    let mut redis = fresh.redis().await;
    let cv: u64 = redis::cmd("GET")
        .arg(fresh.keys.user_cv(u.id))
        .query_async(&mut redis)
        .await
        .expect("the credential version");
    assert!(cv > 1_700_000_000_000_000, "cv {cv}");
    // Passwords came along (as hashes): the user logs in on the new system.
    let res = fresh
        .call(Method::GET, &format!("/users/{}", u.id), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // Counters are past every id handed out, the deleted one included.
    let max_task = before["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .flat_map(|t| t["tasks"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["id"].as_u64())
        .max()
        .expect("a task");
    let next = fresh.seed_task(u.id, g1, "after the restore").await;
    assert!(next > max_task.max(gone), "{next} > {max_task} and {gone}");

    // A damaged file is refused before anything changes.
    let damaged = format!("damaged-{file}");
    let mut bytes = std::fs::read(dir.join(&file)).expect("read");
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    std::fs::write(dir.join(&damaged), bytes).expect("write");
    std::fs::copy(
        dir.join(format!("{file}.sha256")),
        dir.join(format!("{damaged}.sha256")),
    )
    .expect("copy");
    let res = admin_sync(&fresh, &format!("action=restore&from={damaged}")).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text());
    assert!(res.text().contains("checksum"), "{}", res.text());
    // Files outside BACKUP_DIR are not read.
    let res = admin_sync(&fresh, "action=restore&from=/etc/passwd").await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn after_a_restore_the_owner_account_still_follows_a_changed_owner_password() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = syncd_for(&app, &dir).await;
    let res = admin_sync(&app, "action=force").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    // The first start after the restore has a new secret: the restored
    // owner account, which still has the old one, follows it.
    let again = app
        .restart_with(&[("OWNER_PASSWORD", "after-restore")])
        .await;
    let login = |password: &str| Auth::Basic("admin@gmail.com".into(), password.into());
    let res = again
        .call(Method::GET, "/users", &login("after-restore"), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = again
        .call(
            Method::GET,
            "/users",
            &login(taskmaster_tests::OWNER_PASSWORD),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_restore_with_unflushable_writes_is_refused_unless_they_are_discarded_into_a_file() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, pg) = syncd_for(&app, &dir).await;
    let (u, g1) = seed(&app).await;
    let res = admin_sync(&app, "action=force").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    // A row PostgreSQL will not take (a title over 255 characters, put
    // straight into Redis), marked dirty: every flush now fails.
    let mut redis = app.redis().await;
    let bad = 9_000_000 + u64::from(unique());
    let row = json!({"id": bad, "title": "x".repeat(300), "status": false, "priority": 1,
        "deadline": "", "information": "", "user_id": u.id, "group_id": g1,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
    let p = app.keys.prefix().to_owned();
    redis::pipe()
        .cmd("SET")
        .arg(format!("{p}task:{bad}"))
        .arg(row.to_string())
        .cmd("SADD")
        .arg(format!("{p}dirty:tasks"))
        .arg(bad)
        .query_async::<()>(&mut redis)
        .await
        .expect("inject");
    // And an ordinary, acknowledged write that is still pending.
    let pending = app
        .seed_task(u.id, g1, "acknowledged, not yet flushed")
        .await;

    let res = admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text());
    assert!(res.text().contains("discard_pending"), "{}", res.text());
    // Refused: nothing changed and the api serves again.
    let health = eventually(Duration::from_secs(5), || async {
        let res = app.get("/health").await;
        (res.status == StatusCode::OK).then_some(())
    })
    .await;
    assert!(health.is_some(), "maintenance was not lifted");
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/{pending}", u.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    let res = admin_sync(&app, "action=restore&discard_pending=maybe").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    let res = admin_sync(&app, "action=restore&discard_pending=true").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let discarded = res.json()["data"]["discarded"].clone();
    let file = discarded["file"].as_str().expect("file");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join(file)).expect("open"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let ids: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter(|l| l["type"] == "task")
        .filter_map(|l| l["id"].as_u64())
        .collect();
    assert!(ids.contains(&bad) && ids.contains(&pending), "{ids:?}");

    // Redis now holds exactly PostgreSQL's rows: neither task, and nothing
    // pending.
    for tid in [bad, pending] {
        let res = app
            .call(
                Method::GET,
                &format!("/users/{}/tasks/{tid}", u.id),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
    }
    assert_same(&app, &pg).await;
    let dirty: u64 = redis::cmd("SCARD")
        .arg(format!("{p}dirty:tasks"))
        .query_async(&mut redis)
        .await
        .expect("scard");
    assert_eq!(dirty, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn clients_see_503_or_whole_data_during_a_restore_never_part_of_it() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = syncd_for(&app, &dir).await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[group]).await;
    const TASKS: usize = 300;
    for i in 0..TASKS {
        app.seed_task(u.id, group, &format!("task {i}")).await;
    }
    let res = admin_sync(&app, "action=force").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    let stop = std::sync::atomic::AtomicBool::new(false);
    let path = format!("/users/{}/tasks", u.id);
    let reader = || async {
        let (mut whole, mut unavailable) = (0u32, 0u32);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
            match res.status {
                StatusCode::OK => {
                    let count = res.json()["data"]["count"].as_u64();
                    assert_eq!(count, Some(TASKS as u64), "a partial list");
                    whole += 1;
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert!(res.header("retry-after").is_some());
                    unavailable += 1;
                }
                other => panic!("unexpected {other}: {}", res.text()),
            }
        }
        (whole, unavailable)
    };
    let restore = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let res = admin_sync(&app, "action=restore").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        res
    };
    let (res, counts) = futures_util::future::join(
        restore,
        futures_util::future::join_all((0..4).map(|_| reader())),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let whole: u32 = counts.iter().map(|c| c.0).sum();
    let unavailable: u32 = counts.iter().map(|c| c.1).sum();
    assert!(
        whole > 0 && unavailable > 0,
        "{whole} whole, {unavailable} 503"
    );
    // And the flag is gone.
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_maintenance_flag_stops_data_requests_and_writes_but_not_health_or_admin() {
    let app = spawn_app().await;
    let u = app.seed_user("user", &[]).await;
    let mut redis = app.redis().await;
    redis::cmd("SET")
        .arg(app.keys.maintenance())
        .arg(r#"{"reason":"test"}"#)
        .query_async::<()>(&mut redis)
        .await
        .expect("set");
    // The write scripts refuse at once, whatever the api instance believes.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"full_name": "During maintenance"})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app
        .call(Method::GET, &format!("/users/{}", u.id), &u.auth(), None)
        .await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    assert_eq!(res.header("retry-after"), Some("5"));
    assert_eq!(res.json()["success"], false);
    // The same through the versioned mount.
    for mount in ["", "/api/v1"] {
        let health = app.get(&format!("{mount}/health")).await;
        assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(health.json()["status"], "maintenance", "{mount}");
        let admin = app
            .call(
                Method::GET,
                &format!("{mount}/admin/status"),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(admin.status, StatusCode::OK, "{mount}: {}", admin.text());
        // What operators watch a restore with answers too.
        for watched in ["/status", "/status/data", "/metrics"] {
            let res = app
                .call(
                    Method::GET,
                    &format!("{mount}{watched}"),
                    &Auth::Owner,
                    None,
                )
                .await;
            assert_eq!(
                res.status,
                StatusCode::OK,
                "{mount}{watched}: {}",
                res.text()
            );
        }
    }

    redis::cmd("DEL")
        .arg(app.keys.maintenance())
        .query_async::<()>(&mut redis)
        .await
        .expect("del");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app
        .call(Method::GET, &format!("/users/{}", u.id), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_ne!(res.json()["data"]["full_name"], "During maintenance");
}

#[tokio::test]
async fn a_task_list_read_before_a_restore_is_never_answered_after_it() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let other = app.restart_same_prefix().await;
    let (_syncd, _pg) = syncd_for(&app, &dir).await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[group]).await;
    let backup = || backup_now(&app);
    let without = backup().await;
    let task = app.seed_task(u.id, group, "only in the second").await;
    let with = backup().await;

    // Each restore loads the user afresh, with a different task list, while
    // both instances still keep the list they answered before it.
    let list = format!("/users/{}/tasks", u.id);
    for (file, expected) in [(with, vec![task]), (without, vec![])] {
        let res = admin_sync(&app, &format!("action=restore&from={file}")).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        for instance in [&app, &other] {
            for auth in [u.auth(), Auth::Owner] {
                for _ in 0..2 {
                    let res = eventually(Duration::from_secs(5), || async {
                        let res = instance.call(Method::GET, &list, &auth, None).await;
                        (res.status != StatusCode::SERVICE_UNAVAILABLE).then_some(res)
                    })
                    .await
                    .expect("still in maintenance");
                    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
                    let ids: Vec<u64> = crate::own_tasks::list_rows(&res.json())
                        .into_iter()
                        .map(|row| row.0)
                        .collect();
                    assert_eq!(ids, expected, "{}", res.text());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `text` (a backup in the current format, format 5) as a backup of
/// an older `version` into `dir`, as that version wrote them: version 4 had
/// no webhooks; version 3 also had no audit log; version 2 also had no task states, creators, labels or
/// completion times (the last four task columns); version 1 also had no
/// `users.active` (the last users column) and no `api_tokens` table.
/// Returns the file's name.
pub(crate) fn write_older_backup(dir: &Path, text: &str, version: u8) -> String {
    // The tables a version did not have yet.
    let dropped = |table: &str| {
        table == "webhooks"
            || (table == "audit_log" && version <= 3)
            || (table == "api_tokens" && version == 1)
    };
    let mut old = String::new();
    let mut table = "";
    for line in text.lines() {
        if line == "taskmaster-backup 5" {
            old.push_str(&format!("taskmaster-backup {version}\n"));
        } else if let Some(rest) = line.strip_prefix("table ") {
            table = rest.split(' ').next().expect("a table name");
            let line = match table {
                "tasks" if version <= 2 => {
                    line.replace(",state,created_by,labels,completed_at", "")
                }
                "users" if version == 1 => line.replace(",active", ""),
                _ => line.to_owned(),
            };
            if !dropped(table) {
                old.push_str(&format!("{line}\n"));
            }
        } else if let Some(json) = line.strip_prefix("end ") {
            let mut counts: Value = serde_json::from_str(json).expect("end line");
            counts.as_object_mut().expect("counts").remove("webhooks");
            if version <= 3 {
                counts.as_object_mut().expect("counts").remove("audit_log");
            }
            if version == 1 {
                counts.as_object_mut().expect("counts").remove("api_tokens");
            }
            old.push_str(&format!("end {counts}\n"));
        } else if line == "\\." {
            if !dropped(table) {
                old.push_str("\\.\n");
            }
            table = "";
        } else if dropped(table) {
        } else if table == "users" && version == 1 {
            let (row, active) = line.rsplit_once('\t').expect("a users row");
            assert_eq!(active, "t");
            old.push_str(&format!("{row}\n"));
        } else if table == "tasks" && version <= 2 {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 14, "a tasks row: {line}");
            old.push_str(&format!("{}\n", fields[..10].join("\t")));
        } else {
            old.push_str(&format!("{line}\n"));
        }
    }
    let name = format!("taskmaster-20200101T00000{version}Z.backup.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, old.as_bytes()).expect("gzip");
    std::fs::write(dir.join(&name), gz.finish().expect("gzip")).expect("write");
    let sum = std::process::Command::new("sha256sum")
        .arg(&name)
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    std::fs::write(dir.join(format!("{name}.sha256")), sum.stdout).expect("write");
    name
}

/// Asks `app`'s syncd for a backup; answers the file's name.
pub(crate) async fn backup_now(app: &TestApp) -> String {
    let res = admin_sync(app, "action=backup").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["data"]["file"]
        .as_str()
        .expect("file")
        .to_owned()
}

/// The text of backup `file` in `dir`.
pub(crate) fn backup_text(dir: &Path, file: &str) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join(file)).expect("open"))
        .read_to_string(&mut text)
        .expect("gzip");
    text
}

#[tokio::test]
async fn a_backup_in_the_first_format_still_restores_with_every_user_active() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = syncd_for(&app, &dir).await;
    let (u, _) = seed(&app).await;
    let file = backup_now(&app).await;
    let name = write_older_backup(&dir, &backup_text(&dir, &file), 1);

    let fresh = spawn_app().await;
    let (_fresh_syncd, _) = syncd_for(&fresh, &dir).await;
    let res = admin_sync(&fresh, &format!("action=restore&from={name}")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = fresh
        .call(Method::GET, &format!("/users/{}", u.id), &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["active"], true);
    let _ = std::fs::remove_dir_all(&dir);
}
