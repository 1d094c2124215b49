//! Write-behind: what the api acknowledged ends up in PostgreSQL, deletes
//! included.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use taskmaster_shared::config::{SyncdConfig, lookup_from_pairs};

use taskmaster_tests::{Auth, ChildProcess, TestApp, connect_pg, eventually, shared, spawn_app};

/// A syncd on the app's Redis data and a new database without a schema.
pub(crate) async fn syncd_for(app: &TestApp) -> (taskmaster_syncd::Syncd, tokio_postgres::Client) {
    syncd_with(app, &[]).await
}

async fn syncd_with(
    app: &TestApp,
    extra: &[(&str, &str)],
) -> (taskmaster_syncd::Syncd, tokio_postgres::Client) {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let redis_url = app.syncd_redis_url();
    let mut pairs = vec![
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_KEY_PREFIX", app.keys.prefix()),
        ("DATABASE_URL", url.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let config = SyncdConfig::from_lookup(lookup_from_pairs(&pairs)).expect("config");
    let syncd = taskmaster_syncd::Syncd::new(config).expect("syncd");
    (syncd, connect_pg(&url).await.expect("pg"))
}

/// A `taskmaster-syncd` process on the app's data and a new database,
/// flushing every `interval`; returns once its schema is in place.
async fn syncd_process(app: &TestApp, interval: &str) -> (ChildProcess, tokio_postgres::Client) {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    app.syncd_process(&url, &[("SYNC_INTERVAL", interval)])
        .await
}

/// Every row of the api (as the owner sees it) must equal PostgreSQL's.
pub(crate) async fn assert_same(app: &TestApp, pg: &tokio_postgres::Client) {
    let users = app
        .call(Method::GET, "/users", &Auth::Owner, None)
        .await
        .json()["data"]["users"]
        .clone();
    let rows = pg
        .query(
            "SELECT id, full_name, email, role, number, work_times, active, \
             COALESCE((SELECT json_agg(group_id ORDER BY group_id) FROM user_groups WHERE user_id = u.id), '[]'::json)::jsonb \
             FROM users u ORDER BY id",
            &[],
        )
        .await
        .expect("users");
    let pg_users: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"id": r.get::<_, i64>(0), "full_name": r.get::<_, String>(1), "email": r.get::<_, String>(2),
                   "role": r.get::<_, String>(3), "number": r.get::<_, String>(4),
                   "work_times": r.get::<_, Value>(5), "active": r.get::<_, bool>(6), "group_ids": r.get::<_, Value>(7)})
        })
        .collect();
    let api_users: Vec<Value> = users
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            json!({"id": u["id"], "full_name": u["full_name"], "email": u["email"], "role": u["role"],
                   "number": u["number"], "work_times": u["work_times"], "active": u["active"], "group_ids": u["group_ids"]})
        })
        .collect();
    assert_eq!(pg_users, api_users, "users differ");

    let groups = app
        .call(Method::GET, "/groups", &Auth::Owner, None)
        .await
        .json()["data"]["groups"]
        .clone();
    let rows = pg
        .query("SELECT id, name, admin_id FROM groups ORDER BY id", &[])
        .await
        .expect("groups");
    let pg_groups: Vec<Value> = rows
        .iter()
        .map(|r| json!({"id": r.get::<_, i64>(0), "name": r.get::<_, String>(1), "admin_id": r.get::<_, i64>(2)}))
        .collect();
    let api_groups: Vec<Value> = groups
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| json!({"id": g["id"], "name": g["name"], "admin_id": g["admin_id"]}))
        .collect();
    assert_eq!(pg_groups, api_groups, "groups differ");

    let tasks = app
        .call(Method::GET, "/tasks/filter", &Auth::Owner, None)
        .await
        .json()["data"]["tasks"]
        .clone();
    let rows = pg
        .query(
            "SELECT id, title, status, priority, COALESCE(to_char(deadline, 'YYYY-MM-DD'), ''), information, user_id, group_id, \
                    state, created_by, to_jsonb(labels), (extract(epoch FROM completed_at) * 1000000)::bigint \
             FROM tasks ORDER BY id",
            &[],
        )
        .await
        .expect("tasks");
    let pg_tasks: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"id": r.get::<_, i64>(0), "title": r.get::<_, String>(1), "status": r.get::<_, bool>(2),
                   "priority": r.get::<_, i16>(3), "deadline": r.get::<_, String>(4),
                   "information": r.get::<_, String>(5), "user_id": r.get::<_, i64>(6), "group_id": r.get::<_, i64>(7),
                   "state": r.get::<_, String>(8), "created_by": r.get::<_, Option<i64>>(9),
                   "labels": r.get::<_, Value>(10), "completed_at": r.get::<_, Option<i64>>(11)})
        })
        .collect();
    let api_tasks: Vec<Value> = tasks
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            json!({"id": t["id"], "title": t["title"], "status": t["status"], "priority": t["priority"],
                   "deadline": t["deadline"], "information": t["information"], "user_id": t["user_id"],
                   "group_id": t["group_id"], "state": t["state"], "created_by": t["created_by"],
                   "labels": t["labels"], "completed_at": t["completed_at"].as_str().map(|at| {
                       chrono::DateTime::parse_from_rfc3339(at).expect("a timestamp").timestamp_micros()
                   })})
        })
        .collect();
    assert_eq!(pg_tasks, api_tasks, "tasks differ");

    // Personal API tokens: no answer lists every user's, so Redis's
    // records are read directly.
    let mut redis = app.redis().await;
    let mut redis_tokens = Vec::new();
    for u in users.as_array().expect("users") {
        let id = u["id"].as_u64().expect("id");
        let pairs: Vec<String> = redis::cmd("SORT")
            .arg(app.keys.user_tokens(id))
            .arg("BY")
            .arg("nosort")
            .arg("GET")
            .arg("#")
            .arg("GET")
            .arg(app.keys.api_token_pattern())
            .query_async(&mut redis)
            .await
            .expect("tokens");
        for pair in pairs.chunks(2) {
            let r = taskmaster_shared::api_token::TokenRecord::parse(&pair[1]).expect("record");
            redis_tokens.push(json!([
                pair[0],
                r.user,
                r.name,
                r.read_only,
                r.digest,
                r.created_ms,
                r.expires_ms,
                r.last_used_ms
            ]));
        }
    }
    redis_tokens.sort_by_key(|t| t[0].as_str().unwrap_or_default().to_owned());
    let ms = "(extract(epoch FROM {}) * 1000)::bigint";
    let rows = pg
        .query(
            &format!(
                "SELECT id, user_id, name, read_only, secret_hash, {}, {}, {} FROM api_tokens ORDER BY id",
                ms.replace("{}", "created_at"),
                ms.replace("{}", "expires_at"),
                ms.replace("{}", "last_used_at")
            ),
            &[],
        )
        .await
        .expect("api tokens");
    let pg_tokens: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!([
                r.get::<_, String>(0),
                r.get::<_, i64>(1),
                r.get::<_, String>(2),
                r.get::<_, bool>(3),
                r.get::<_, String>(4),
                r.get::<_, i64>(5),
                r.get::<_, Option<i64>>(6),
                r.get::<_, Option<i64>>(7)
            ])
        })
        .collect();
    assert_eq!(pg_tokens, redis_tokens, "api tokens differ");
}

#[tokio::test]
async fn a_flush_makes_postgres_equal_redis_deletes_included() {
    let app = spawn_app().await;
    let (syncd, pg) = syncd_for(&app).await;
    syncd.migrate().await.expect("migrations");

    let admin = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(admin.id).await;
    let g2 = app.seed_group(admin.id).await;
    let u = app.seed_user("user", &[g1, g2]).await;
    let v = app.seed_user("user", &[g1]).await;
    let t1 = app.seed_task(u.id, g1, "ünïcode ✓ \"quoted\"").await;
    let t2 = app.seed_task(u.id, g2, "second").await;
    app.seed_task(v.id, g1, "third").await;
    app.call(
        Method::PUT,
        &format!("/users/{}/tasks/{t1}", u.id),
        &Auth::Owner,
        Some(json!({"deadline": "2026-02-28", "priority": 1})),
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/users/{}/worktimes", u.id),
        &Auth::Owner,
        Some(json!({"work_times": {"Monday": 7.5}})),
    )
    .await;

    let report = syncd.flush_once().await.expect("flush");
    assert_eq!(report.upserted, [4, 2, 3, 0], "{report:?}");
    assert_same(&app, &pg).await;

    // Personal tokens are written behind with their user: made, revoked,
    // revoked all at once by a password change; a deactivation too.
    let (_, kept) = app.api_token(&u, true).await;
    let (_, revoked) = app.api_token(&v, false).await;
    app.api_token(&admin, false).await;
    let report = syncd.flush_once().await.expect("flush");
    assert_eq!(report.upserted, [3, 0, 0, 0], "{report:?}");
    assert_same(&app, &pg).await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/auth/tokens/{revoked}"),
            &v.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", admin.id),
            &Auth::Owner,
            Some(json!({"password": "changed-it", "active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let report = syncd.flush_once().await.expect("flush");
    assert_eq!(report.upserted, [2, 0, 0, 0], "{report:?}");
    assert_same(&app, &pg).await;
    let left: Vec<String> = pg
        .query("SELECT id FROM api_tokens", &[])
        .await
        .expect("tokens")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, vec![kept]);

    // Updates, moves and deletes reach PostgreSQL too.
    app.call(
        Method::PUT,
        &format!("/users/{}/tasks/{t2}/done", u.id),
        &Auth::Owner,
        None,
    )
    .await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{g1}/users/{}", v.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app
        .call(Method::DELETE, &format!("/groups/{g2}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}", v.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let report = syncd.flush_once().await.expect("flush");
    assert!(report.deleted.iter().sum::<usize>() >= 3, "{report:?}");
    assert_same(&app, &pg).await;
    let gone: i64 = pg
        .query_one("SELECT count(*) FROM tasks WHERE id = $1", &[&(t2 as i64)])
        .await
        .expect("q")
        .get(0);
    assert_eq!(gone, 0, "the group's task is deleted in PostgreSQL");

    // Nothing pending: a flush writes nothing, and re-running is harmless.
    let report = syncd.flush_once().await.expect("flush");
    assert_eq!(report.rows(), 0);
    assert_same(&app, &pg).await;
}

/// Chunks bound syncd's memory; they must not split the transaction.
#[tokio::test]
async fn a_flush_in_many_chunks_is_still_one_transaction() {
    let app = spawn_app().await;
    let (syncd, pg) = syncd_with(&app, &[("SYNC_CHUNK_ROWS", "2")]).await;
    syncd.migrate().await.expect("migrations");
    let admin = app.seed_user("group_admin", &[]).await;
    let groups = [
        app.seed_group(admin.id).await,
        app.seed_group(admin.id).await,
        app.seed_group(admin.id).await,
    ];
    let mut users = Vec::new();
    for i in 0..5 {
        let u = app
            .seed_user("user", &[groups[i % 3], groups[(i + 1) % 3]])
            .await;
        for g in [groups[i % 3], groups[(i + 1) % 3]] {
            app.seed_task(u.id, g, &format!("task of {i} in {g}")).await;
        }
        users.push(u);
    }

    // The tasks chunks fail: the users and groups written before them in
    // the same flush must not be there either.
    pg.batch_execute("ALTER TABLE tasks RENAME TO tasks_away")
        .await
        .expect("rename");
    assert!(syncd.flush_once().await.is_err());
    let written: i64 = pg
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .expect("q")
        .get(0);
    assert_eq!(written, 0, "the earlier chunks were rolled back");
    pg.batch_execute("ALTER TABLE tasks_away RENAME TO tasks")
        .await
        .expect("rename back");

    let report = syncd.flush_once().await.expect("flush");
    assert_eq!(report.upserted, [7, 3, 10, 0], "{report:?}");
    assert_same(&app, &pg).await;

    // Deletes and cascades across chunks.
    let res = app
        .call(
            Method::DELETE,
            &format!("/groups/{}", groups[0]),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(
            Method::DELETE,
            &format!("/users/{}", users[1].id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    syncd.flush_once().await.expect("flush");
    assert_same(&app, &pg).await;
}

#[tokio::test]
async fn a_failed_flush_clears_nothing_and_the_next_one_catches_up() {
    let app = spawn_app().await;
    let (syncd, pg) = syncd_for(&app).await;
    // No schema yet: the flush fails inside PostgreSQL.
    let u = app.seed_user("user", &[]).await;
    assert!(syncd.flush_once().await.is_err());
    syncd.migrate().await.expect("migrations");
    // A write between the failure and the retry is picked up too.
    app.call(
        Method::PUT,
        &format!("/users/{}", u.id),
        &Auth::Owner,
        Some(json!({"full_name": "Later"})),
    )
    .await;
    syncd.flush_once().await.expect("flush");
    assert_same(&app, &pg).await;
    let name: String = pg
        .query_one(
            "SELECT full_name FROM users WHERE id = $1",
            &[&(u.id as i64)],
        )
        .await
        .expect("q")
        .get(0);
    assert_eq!(name, "Later");
}

#[tokio::test]
async fn syncd_flushes_what_is_pending_when_it_receives_sigterm() {
    let app = spawn_app().await;
    let (mut syncd, pg) = syncd_process(&app, "1h").await;

    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    let t = app.seed_task(admin.id, g, "written at shutdown").await;
    syncd.signal(libc::SIGTERM);
    assert_eq!(
        syncd.wait_for_exit(Duration::from_secs(15)).await,
        Some(0),
        "{}",
        syncd.output()
    );
    let title: String = pg
        .query_one("SELECT title FROM tasks WHERE id = $1", &[&(t as i64)])
        .await
        .unwrap_or_else(|e| panic!("task not flushed ({e}):\n{}", syncd.output()))
        .get(0);
    assert_eq!(title, "written at shutdown");
    assert_same(&app, &pg).await;
}

#[tokio::test]
async fn a_failing_postgres_is_retried_with_backoff_and_converges() {
    let app = spawn_app().await;
    let (mut syncd, pg) = syncd_process(&app, "2s").await;

    // Break PostgreSQL for the flush, then write.
    pg.batch_execute("ALTER TABLE tasks RENAME TO tasks_away")
        .await
        .expect("rename");
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    let t = app.seed_task(admin.id, g, "survives the outage").await;
    assert!(
        logged(&syncd, "flush will be retried", 1, 15).await,
        "no failed flush seen:\n{}",
        syncd.output()
    );

    pg.batch_execute("ALTER TABLE tasks_away RENAME TO tasks")
        .await
        .expect("rename back");
    let flushed = eventually(Duration::from_secs(15), || async {
        let rows = pg
            .query("SELECT 1 FROM tasks WHERE id = $1", &[&(t as i64)])
            .await
            .ok()?;
        (!rows.is_empty()).then_some(())
    })
    .await;
    assert!(flushed.is_some(), "never converged:\n{}", syncd.output());
    assert_same(&app, &pg).await;
    syncd.signal(libc::SIGTERM);
    assert_eq!(syncd.wait_for_exit(Duration::from_secs(15)).await, Some(0));
}

/// The row version PostgreSQL holds of user `id` (`xmin` changes with
/// every write of the row, even one of the same values).
async fn row_version(pg: &tokio_postgres::Client, id: u64) -> String {
    pg.query_one(
        "SELECT xmin::text FROM users WHERE id = $1",
        &[&(id as i64)],
    )
    .await
    .expect("xmin")
    .get(0)
}

/// Only a missing table calls for the migrations and a full rewrite: a
/// flush refused for any other reason keeps its rows pending and retries
/// them alone. (Rewriting every row after each passing error would cost a
/// large system a full resync per failed flush.)
#[tokio::test]
async fn a_flush_refused_by_postgresql_retries_its_own_rows_and_rewrites_nothing_else() {
    let app = spawn_app().await;
    let (syncd, pg) = syncd_process(&app, "1s").await;
    let admin = app.seed_user("group_admin", &[]).await;
    let untouched = app.seed_user("user", &[]).await;
    let g = app.seed_group(admin.id).await;
    let first = app.seed_task(admin.id, g, "flushed first").await;
    assert!(
        appears(&pg, "tasks", first, 20).await,
        "first flush never happened:\n{}",
        syncd.output()
    );
    let before = row_version(&pg, untouched.id).await;
    // The start wrote every row to the new database; only what follows
    // the refusal counts.
    let logged_before = syncd.output().len();

    // Every task write now fails, as a constraint or a full disk would.
    pg.batch_execute("ALTER TABLE tasks ADD CONSTRAINT refuse_every_write CHECK (false) NOT VALID")
        .await
        .expect("constraint");
    let pending = app.seed_task(admin.id, g, "refused at first").await;
    assert!(
        logged(&syncd, "flush failed", 2, 20).await,
        "no flush failed:\n{}",
        syncd.output()
    );
    pg.batch_execute("ALTER TABLE tasks DROP CONSTRAINT refuse_every_write")
        .await
        .expect("drop constraint");
    assert!(
        appears(&pg, "tasks", pending, 20).await,
        "the pending task never arrived:\n{}",
        syncd.output()
    );

    let output = syncd.output().split_off(logged_before);
    assert!(
        !output.contains("migrations applied again")
            && !output.contains("every row will be written again"),
        "a refused write was taken for a lost schema:\n{output}"
    );
    assert_eq!(
        row_version(&pg, untouched.id).await,
        before,
        "a row that never changed was written again"
    );
    assert_same(&app, &pg).await;
}

/// Whether syncd's log shows `needle` at least `times` times within
/// `secs`.
async fn logged(syncd: &ChildProcess, needle: &str, times: usize, secs: u64) -> bool {
    eventually(Duration::from_secs(secs), || async {
        (syncd.output().matches(needle).count() >= times).then_some(())
    })
    .await
    .is_some()
}

/// Whether row `id` of `table` shows up in PostgreSQL within `secs`.
async fn appears(pg: &tokio_postgres::Client, table: &str, id: u64, secs: u64) -> bool {
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1");
    eventually(Duration::from_secs(secs), || async {
        let rows = pg.query(&sql, &[&(id as i64)]).await.ok()?;
        (!rows.is_empty()).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn a_database_that_lost_its_schema_is_migrated_again() {
    let app = spawn_app().await;
    let (syncd, pg) = syncd_process(&app, "1s").await;
    let admin = app.seed_user("group_admin", &[]).await;
    // Flushed before the loss and never changed after it.
    let untouched = app.seed_user("user", &[]).await;
    let g0 = app.seed_group(admin.id).await;
    let member = app.seed_user("user", &[g0]).await;
    let old_task = app
        .seed_task(member.id, g0, "flushed before the loss")
        .await;
    assert!(
        appears(&pg, "tasks", old_task, 20).await,
        "first flush never happened:\n{}",
        syncd.output()
    );

    pg.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .await
        .expect("drop");
    let g = app.seed_group(admin.id).await;
    app.seed_task(admin.id, g, "after the schema was lost")
        .await;
    assert!(
        appears(&pg, "groups", g, 30).await,
        "the schema never came back:\n{}",
        syncd.output()
    );
    // A new database holds none of what Redis has: everything is written
    // again, rows that never changed since included.
    assert!(
        appears(&pg, "users", untouched.id, 30).await,
        "old rows never came back:\n{}",
        syncd.output()
    );
    assert!(
        appears(&pg, "tasks", old_task, 30).await,
        "old tasks never came back:\n{}",
        syncd.output()
    );
    assert_same(&app, &pg).await;
}
