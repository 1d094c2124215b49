//! The jobs that run imports (`api/src/import/job.rs`): a large import
//! answered 202 and followed at `GET /jobs/{id}` by its creator and the
//! owner; cancelled (`DELETE`), keeping a partial import's rows and undoing
//! an all-or-nothing one's; taken over by another api when its own is
//! killed, every row written once; at most three per caller, four uploads
//! read at once per api; an export of 100,000 tasks re-imported to the same
//! tasks.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::Value;
use taskmaster_tests::{
    Auth, TestApp, TestResponse, bulk, eventually, shared, spawn_app, spawn_app_on, spawn_app_with,
    spawn_child_api,
};

use crate::imports::{ended, held, import, rows};

#[tokio::test]
async fn a_large_import_runs_as_a_job_that_only_its_creator_and_the_owner_see() {
    let app = spawn_app_with(shared().await.redis.port, &[("IMPORT_SYNC_ROWS", "100")]).await;
    let (admin, group, user) = app.seed_team().await;
    let res = import(&app, &user, &admin.auth(), "", &rows(group, 2_000)).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text());
    let id = res.json()["data"]["id"].as_u64().expect("a job id");
    assert_eq!(res.header("location"), Some(format!("/jobs/{id}").as_str()));
    for (who, auth) in [("the user", user.auth()), ("nobody", Auth::None)] {
        let res = app
            .call(Method::GET, &format!("/jobs/{id}"), &auth, None)
            .await;
        let want = if matches!(auth, Auth::None) { 401 } else { 404 };
        assert_eq!(res.status.as_u16(), want, "{who}: {}", res.text());
    }
    let job = ended(&app, id, &admin.auth(), Duration::from_secs(30)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (job["rows_done"].as_u64(), job["created"].as_u64()),
        (Some(2_000), Some(2_000))
    );
    assert!(job["started_at"].is_string() && job["finished_at"].is_string());
    let seen = app
        .call(Method::GET, &format!("/jobs/{id}"), &Auth::Owner, None)
        .await;
    assert_eq!(seen.json()["data"]["created"], 2_000);
    assert_eq!(held(&app, user.id).await, 2_000);
    let res = app
        .call(Method::DELETE, &format!("/jobs/{id}"), &admin.auth(), None)
        .await;
    assert_eq!(
        res.status,
        StatusCode::CONFLICT,
        "an ended job: {}",
        res.text()
    );
    for path in ["/jobs/999999", "/jobs/abc"] {
        let res = app.call(Method::GET, path, &Auth::Owner, None).await;
        assert!(
            matches!(res.status.as_u16(), 400 | 404),
            "{path}: {}",
            res.text()
        );
    }
}

#[tokio::test]
async fn cancelling_a_job_keeps_a_partial_imports_rows_and_undoes_an_all_or_nothing_ones() {
    let _heavy = taskmaster_tests::heavy().await;
    let app = spawn_app_with(shared().await.redis.port, &[("IMPORT_SYNC_ROWS", "10")]).await;
    let (_admin, group, user) = app.seed_team().await;
    let csv = rows(group, 40_000);
    for (query, kept) in [("", false), ("?partial=true", true)] {
        let before = held(&app, user.id).await;
        let res = import(&app, &user, &user.auth(), query, &csv).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text());
        let id = res.json()["data"]["id"].as_u64().expect("a job id");
        // Once some rows are in.
        eventually(Duration::from_secs(20), || async {
            (held(&app, user.id).await > before).then_some(())
        })
        .await
        .expect("the job writes");
        app.watch_slow_log(30).await;
        let res = app
            .call(Method::DELETE, &format!("/jobs/{id}"), &user.auth(), None)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let job = ended(&app, id, &user.auth(), Duration::from_secs(30)).await;
        assert_eq!(job["status"], "cancelled", "{job}");
        let slow = app.own_slow_log(30).await;
        assert!(
            slow.is_empty(),
            "a step of undoing held Redis 30 ms or more: {slow:?}"
        );
        let created = job["created"].as_u64().expect("created");
        let now = held(&app, user.id).await;
        assert_eq!(
            now - before,
            created,
            "{query}: what it says it kept is what is there"
        );
        if kept {
            assert!(created > 0 && created < 40_000, "{job}");
        } else {
            assert_eq!(created, 0, "an all-or-nothing import keeps nothing: {job}");
        }
    }
}

#[tokio::test]
async fn a_job_whose_api_is_killed_is_taken_over_and_writes_every_row_once() {
    let _heavy = taskmaster_tests::heavy().await;
    let (mut child, remote) = spawn_child_api(&[("IMPORT_SYNC_ROWS", "10")]).await;
    // A second api on the same data, to take the job over.
    let prefix = remote.keys.prefix().to_owned();
    let app = spawn_app_on(shared().await.redis.port, &prefix, &[]).await;
    let (_admin, group, user) = app.seed_team().await;
    let res = import(&remote, &user, &user.auth(), "", &rows(group, 60_000)).await;
    assert_eq!(
        res.status,
        StatusCode::ACCEPTED,
        "{}\n{}",
        res.text(),
        child.output()
    );
    let id = res.json()["data"]["id"].as_u64().expect("a job id");
    eventually(Duration::from_secs(20), || async {
        (held(&app, user.id).await > 0).then_some(())
    })
    .await
    .expect("the job writes");
    child.signal(libc::SIGKILL);
    child.wait_for_exit(Duration::from_secs(10)).await;
    let midway = held(&app, user.id).await;
    assert!(
        midway < 60_000,
        "the kill came too late to test anything ({midway} rows)"
    );
    let job = ended(&app, id, &user.auth(), Duration::from_secs(60)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["created"], 60_000);
    assert_eq!(held(&app, user.id).await, 60_000, "every row once");
    assert_eq!(claims(&app, id).await, 1, "taken over once");
}

/// How many times job `id` was taken over from an api that stopped.
async fn claims(app: &TestApp, id: u64) -> u64 {
    let claims: Option<u64> = redis::cmd("HGET")
        .arg(app.keys.job(id))
        .arg("claims")
        .query_async(&mut app.redis().await)
        .await
        .expect("claims");
    claims.unwrap_or(0)
}

#[tokio::test]
async fn a_hundred_thousand_tasks_exported_and_imported_come_back_the_same() {
    let _heavy = taskmaster_tests::heavy().await;
    let app = spawn_app().await;
    let (_admin, group, from) = app.seed_team().await;
    let to = app.seed_user("user", &[group]).await;
    let mut redis = app.redis().await;
    bulk::seed_labelled_tasks(
        &mut redis,
        &app.keys,
        from.id,
        group,
        99_990,
        Some("=risky"),
    )
    .await;
    // And ten a spreadsheet would run, break or mangle.
    const STATES: [&str; 3] = ["todo", "in_progress", "done"];
    for (i, title) in [
        "=1+1",
        "+SUM(A1)",
        "-2",
        "@x",
        "\ttab",
        "'quote",
        "a,\"b\"\r\nc",
        "semi;colon",
        "ünï ✓",
        " spaced ",
    ]
    .iter()
    .enumerate()
    {
        let res = app
            .call(
                Method::POST,
                &format!("/users/{}/tasks", from.id),
                &Auth::Owner,
                Some(serde_json::json!({
                    "title": title, "group_id": group, "information": format!("=cmd|' /C calc'!A{i}"),
                    "labels": ["a,b", "=x", "q;4"], "priority": 1 + i % 3,
                    "state": STATES[i % 3], "deadline": "2027-03-04",
                })),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    }
    let export = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks/export", from.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    // Each step of the job is short (as the create batches are).
    app.watch_slow_log(30).await;
    let res = app
        .upload(
            &format!("/users/{}/tasks/import", to.id),
            &Auth::Owner,
            "text/csv",
            export.body.clone(),
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text());
    let id = res.json()["data"]["id"].as_u64().expect("a job id");
    let job = ended(&app, id, &Auth::Owner, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "done", "{job}");
    let slow = app.own_slow_log(30).await;
    assert!(slow.is_empty(), "Redis was held 30 ms or more: {slow:?}");
    assert_eq!(
        job["ignored_columns"],
        serde_json::json!([
            "id",
            "user_id",
            "created_at",
            "updated_at",
            "created_by",
            "completed_at"
        ])
    );
    let fields = |t: &Value| {
        [
            "title",
            "priority",
            "deadline",
            "information",
            "group_id",
            "state",
            "status",
            "labels",
        ]
        .map(|f| t[f].clone())
    };
    let page = |user: u64| {
        let app = &app;
        async move {
            // A list read by id for the first time builds its index first
            // (503 with Retry-After meanwhile).
            eventually(Duration::from_secs(60), || async {
                let res = app
                    .call(
                        Method::GET,
                        &format!("/users/{user}/tasks/export?format=json"),
                        &Auth::Owner,
                        None,
                    )
                    .await;
                res.json()["data"]["tasks"].as_array().cloned()
            })
            .await
            .expect("the export answers")
        }
    };
    let (a, b) = (page(from.id).await, page(to.id).await);
    assert_eq!(a.len(), 100_000);
    assert_eq!(b.len(), 100_000);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(fields(x), fields(y), "{x} came back as {y}");
    }
}

#[tokio::test]
async fn a_caller_runs_at_most_three_imports_at_once() {
    let _heavy = taskmaster_tests::heavy().await;
    let app = spawn_app_with(shared().await.redis.port, &[("IMPORT_SYNC_ROWS", "10")]).await;
    let (_admin, group, user) = app.seed_team().await;
    let csv = rows(group, 20_000);
    let auth = user.auth();
    // Sent together: three are taken (two run, one waits queued), the
    // fourth is refused until one ends.
    let sent = futures_util::future::join_all(
        (0..4).map(|_| import(&app, &user, &auth, "?partial=true", &csv)),
    )
    .await;
    let mut statuses: Vec<u16> = sent.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [202, 202, 202, 429],
        "{:?}",
        sent.iter().map(TestResponse::text).collect::<Vec<_>>()
    );
    let refused = sent
        .iter()
        .find(|r| r.status.as_u16() == 429)
        .expect("one refused");
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("At most 3 imports")
    );
    // The refused one's file went with its refusal: four files were
    // stored, three renamed to their jobs, none left waiting for an hour's
    // expiry (a creator at its limit could otherwise fill Redis).
    assert_eq!(uploads_left(&app).await, Vec::<String>::new());
    for res in sent.iter().filter(|r| r.status.as_u16() == 202) {
        let id = res.json()["data"]["id"].as_u64().expect("a job id");
        let job = ended(&app, id, &user.auth(), Duration::from_secs(60)).await;
        assert_eq!(job["status"], "done", "{job}");
    }
    assert_eq!(held(&app, user.id).await, 60_000);
    let res = import(&app, &user, &user.auth(), "?partial=true", &rows(group, 5)).await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "once they ended: {}",
        res.text()
    );
}

/// The import files stored and not yet taken by a job.
async fn uploads_left(app: &TestApp) -> Vec<String> {
    let mut redis = app.redis().await;
    let mut keys: redis::AsyncIter<'_, String> =
        redis::AsyncCommands::scan_match(&mut redis, app.keys.job_upload("*"))
            .await
            .expect("scan");
    let mut out = Vec::new();
    while let Some(key) = keys.next_item().await {
        out.push(key.expect("a key"));
    }
    out
}

#[tokio::test]
async fn a_burst_of_uploads_is_read_four_at_a_time_and_the_rest_told_to_retry() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let auth = user.auth().header().expect("credentials");
    // Uploads whose bodies never finish hold the four turns (six, so that
    // the four are taken whichever of them the server reads first).
    let mut slow = Vec::new();
    for _ in 0..6 {
        let mut conn = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /users/{}/tasks/import HTTP/1.1\r\nhost: x\r\n{}: {}\r\n\
             content-type: text/csv\r\ncontent-length: 1000000\r\n\r\ntitle,group_id\n",
            user.id, auth.0, auth.1
        );
        conn.write_all(head.as_bytes()).await.expect("write");
        slow.push(conn);
    }
    // Six race for four turns: once two are refused, four hold theirs.
    let mut answered = vec![false; slow.len()];
    for _ in 0..500 {
        for (conn, done) in slow.iter_mut().zip(answered.iter_mut()) {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 64];
            if !*done
                && let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(5), conn.read(&mut buf)).await
            {
                assert!(
                    buf[..n].starts_with(b"HTTP/1.1 429"),
                    "{:?}",
                    String::from_utf8_lossy(&buf[..n])
                );
                *done = true;
            }
        }
        if answered.iter().filter(|d| **d).count() == 2 {
            break;
        }
    }
    assert_eq!(
        answered.iter().filter(|d| **d).count(),
        2,
        "two of six refused"
    );
    let refused = eventually(Duration::from_secs(10), || async {
        let res = import(&app, &user, &user.auth(), "", &rows(group, 1)).await;
        (res.status == StatusCode::TOO_MANY_REQUESTS).then_some(res)
    })
    .await
    .expect("a fifth upload is refused while four are read");
    assert!(refused.text().contains("retry"), "{}", refused.text());
    assert_eq!(
        refused.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"2"[..]),
        "a refused upload says when to come back"
    );
    assert_eq!(held(&app, user.id).await, 0);
    // As the slow ones go, turns come back.
    drop(slow);
    let res = eventually(Duration::from_secs(10), || async {
        let res = import(&app, &user, &user.auth(), "", &rows(group, 1)).await;
        (res.status == StatusCode::CREATED).then_some(res)
    })
    .await;
    assert!(
        res.is_some(),
        "an upload is taken again once the others ended"
    );
}

#[tokio::test]
async fn every_operation_on_a_job_whose_record_is_gone_is_refused_as_gone_and_writes_nothing() {
    use taskmaster_api::store::{JobOp, Refusal};
    // A record a restore forgot (job records are not durable) or that
    // never was: the worker stops on this refusal, and the cancel route
    // answers it 404 when the record vanishes after it was read.
    let app = spawn_app().await;
    let store = app.store();
    let id = 4_000_000_000;
    let now = taskmaster_api::clock::now();
    for (name, op) in [
        ("start", JobOp::Start),
        ("beat", JobOp::Beat),
        ("finish", JobOp::Finish),
        ("fail", JobOp::Fail("a reason")),
        ("claim", JobOp::Claim(0)),
        ("cancel", JobOp::Cancel),
    ] {
        let answer = store
            .job_control(op, id, "a token", &now)
            .await
            .expect("Redis answers");
        assert_eq!(answer, Err(Refusal::JobGone), "{name}");
        let record = store.job(id).await.expect("Redis answers");
        assert!(record.is_none(), "{name} made a record: {record:?}");
    }
}

#[tokio::test]
async fn a_job_whose_holder_is_beating_is_not_claimed_by_another_api() {
    use taskmaster_api::import::job::IDLE;
    use taskmaster_api::store::{JobOp, Refusal};
    let _heavy = taskmaster_tests::heavy().await;
    let app = spawn_app_with(shared().await.redis.port, &[("IMPORT_SYNC_ROWS", "10")]).await;
    let (_admin, group, user) = app.seed_team().await;
    let res = import(&app, &user, &user.auth(), "", &rows(group, 40_000)).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text());
    let id = res.json()["data"]["id"].as_u64().expect("a job id");
    // Another api's sweep, as it sees the job: its holder beat just now.
    let store = app.store();
    let idle = IDLE.as_millis() as u64;
    let now = taskmaster_api::clock::now();
    let answer = store
        .job_control(JobOp::Claim(idle), id, "another api", &now)
        .await
        .expect("Redis answers");
    assert_eq!(answer, Err(Refusal::JobTaken));
    let job = ended(&app, id, &user.auth(), Duration::from_secs(60)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["created"], 40_000, "{job}");
    assert_eq!(claims(&app, id).await, 0, "never taken over");
}
