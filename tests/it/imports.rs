//! Task imports (`api/src/import`): a CSV file judged row by row by the
//! create's own rules; all or nothing by default, `partial=true`,
//! `dry_run=true`; every bad file a clear 4xx; who may import for whom;
//! retries under an `Idempotency-Key`. The jobs that run larger imports
//! are `import_jobs.rs`'s.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::Value;
use taskmaster_tests::{
    Auth, Seeded, TestApp, TestResponse, eventually, shared, spawn_app, spawn_app_with,
};

pub(crate) fn import_path(user: &Seeded, query: &str) -> String {
    format!("/users/{}/tasks/import{query}", user.id)
}

pub(crate) async fn import(
    app: &TestApp,
    user: &Seeded,
    auth: &Auth,
    query: &str,
    csv: &str,
) -> TestResponse {
    app.upload(
        &import_path(user, query),
        auth,
        "text/csv",
        csv.as_bytes().to_vec(),
    )
    .await
}

/// The user's tasks, by id.
pub(crate) async fn tasks_of(app: &TestApp, user: &Seeded) -> Vec<Value> {
    app.owner_list(&format!("/users/{}/tasks", user.id), "tasks")
        .await
}

/// How many tasks user `id` holds, straight from Redis.
pub(crate) async fn held(app: &TestApp, id: u64) -> u64 {
    let mut redis = app.redis().await;
    redis::cmd("SCARD")
        .arg(format!("{}user:{id}:tasks", app.keys.prefix()))
        .query_async(&mut redis)
        .await
        .expect("scard")
}

/// The report's (row, field) pairs.
pub(crate) fn refused_rows(report: &Value) -> Vec<(Option<u64>, Option<String>)> {
    report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["row"].as_u64(), e["field"].as_str().map(str::to_owned)))
        .collect()
}

/// Follows job `id` as `auth` until it ended; its last answer.
pub(crate) async fn ended(app: &TestApp, id: u64, auth: &Auth, limit: Duration) -> Value {
    eventually(limit, || async {
        let res = app
            .call(Method::GET, &format!("/jobs/{id}"), auth, None)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let job = res.json()["data"].clone();
        matches!(
            job["status"].as_str(),
            Some("done" | "failed" | "cancelled")
        )
        .then_some(job)
    })
    .await
    .unwrap_or_else(|| panic!("job {id} did not end within {limit:?}"))
}

/// `n` good rows for `group`: title, priority and a deadline.
pub(crate) fn rows(group: u64, n: usize) -> String {
    let mut csv = String::from("title,priority,deadline,group_id\n");
    for i in 0..n {
        csv.push_str(&format!(
            "row {i},{},2027-01-{:02},{group}\n",
            1 + i % 3,
            1 + i % 28
        ));
    }
    csv
}

#[tokio::test]
async fn a_small_import_writes_every_field_the_create_takes_as_creates_do() {
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let csv = format!(
        "\u{feff}Task_Name;Priority;Description;GROUP_ID;status;labels;colour;id\r\n\
         Ship it;HIGH;\"notes; with a separator\";{group};true;\"[\"\"release\"\",\"\"q4\"\"]\";red;77\r\n\
         Plan;low;;{group};in_progress;a, b;;\r\n\
         ;;;;;;;\r\n\
         Default;;;{group};;;;\r\n"
    );
    let res = import(&app, &user, &user.auth(), "", &csv).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let report = res.json()["data"].clone();
    assert_eq!(report["status"], "done");
    assert_eq!(report["mode"], "all_or_nothing");
    assert_eq!(
        (report["rows_total"].as_u64(), report["created"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(report["unknown_columns"], serde_json::json!(["colour"]));
    assert_eq!(report["ignored_columns"], serde_json::json!(["id"]));
    let tasks = tasks_of(&app, &user).await;
    let seen: Vec<(&str, u64, &str, &str, Value)> = tasks
        .iter()
        .map(|t| {
            (
                t["title"].as_str().unwrap_or_default(),
                t["priority"].as_u64().unwrap_or_default(),
                t["state"].as_str().unwrap_or_default(),
                t["information"].as_str().unwrap_or_default(),
                t["labels"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "Ship it",
                1,
                "done",
                "notes; with a separator",
                serde_json::json!(["q4", "release"])
            ),
            ("Plan", 3, "in_progress", "", serde_json::json!(["a", "b"])),
            ("Default", 2, "todo", "", serde_json::json!([])),
        ]
    );
    // As creates: created by the caller, marked dirty, one change log entry each.
    assert!(tasks.iter().all(|t| t["created_by"] == user.id));
    let mut redis = app.redis().await;
    let dirty: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(app.keys.dirty(taskmaster_shared::keys::RowType::Task))
        .query_async(&mut redis)
        .await
        .expect("dirty");
    let entries: Vec<Value> = app
        .call(
            Method::GET,
            "/changes?since=0-0&limit=1000",
            &Auth::Owner,
            None,
        )
        .await
        .json()["data"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for t in &tasks {
        let id = t["id"].as_u64().expect("id");
        assert!(dirty.contains(&id), "task {id} not dirty");
        assert!(
            entries
                .iter()
                .any(|e| e["type"] == "task_created" && e["data"]["id"] == id),
            "task {id} not in the change log"
        );
    }
}

#[tokio::test]
async fn bad_rows_are_reported_by_row_and_field_in_every_mode() {
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let other = app.seed_group(_admin.id).await;
    let long_cell = "x".repeat(70_000);
    let csv = format!(
        "title,priority,deadline,group_id,information\n\
         good one,1,2027-01-01,{group},\n\
         ,1,,{group},\n\
         bad priority,urgent,,{group},\n\
         bad deadline,2,31/12/2026,{group},\n\
         not my group,2,,{other},\n\
         no such group,2,,999999,\n\
         huge,2,,{group},{long_cell}\n\
         good two,3,,{group},\n"
    );
    let wanted = vec![
        (Some(3), Some("title".to_owned())),
        (Some(4), Some("priority".to_owned())),
        (Some(5), Some("deadline".to_owned())),
        (Some(6), Some("group_id".to_owned())),
        (Some(7), Some("group_id".to_owned())),
        (Some(8), Some("information".to_owned())),
    ];
    // A dry run and the default mode report the same rows; neither writes.
    let res = import(&app, &user, &user.auth(), "?dry_run=true", &csv).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let report = res.json()["data"].clone();
    assert_eq!(report["status"], "validated");
    assert_eq!(report["id"], Value::Null);
    assert_eq!(refused_rows(&report), wanted);
    assert_eq!(report["errors_total"], 6);
    let res = import(&app, &user, &user.auth(), "", &csv).await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        res.text()
    );
    let body = res.json();
    assert_eq!(body["success"], false);
    assert_eq!(
        body["error"],
        "6 of 8 rows are invalid; nothing was imported"
    );
    assert_eq!(refused_rows(&body["report"]), wanted);
    assert_eq!(held(&app, user.id).await, 0);
    // Partial: the good rows go in, the bad ones are reported (the
    // membership ones by the create step itself).
    let res = import(&app, &user, &user.auth(), "?partial=true", &csv).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let report = res.json()["data"].clone();
    assert_eq!(
        (report["created"].as_u64(), report["errors_total"].as_u64()),
        (Some(2), Some(6))
    );
    let mut found = refused_rows(&report);
    found.sort();
    assert_eq!(found, wanted);
    let titles: Vec<String> = tasks_of(&app, &user)
        .await
        .iter()
        .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(titles, ["good one", "good two"]);
}

#[tokio::test]
async fn a_report_lists_the_first_hundred_bad_rows_and_counts_them_all() {
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let mut csv = rows(group, 10);
    for i in 0..250 {
        csv.push_str(&format!("bad {i},9,,{group}\n"));
    }
    let res = import(&app, &user, &user.auth(), "?partial=true", &csv).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let report = res.json()["data"].clone();
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(100));
    assert_eq!(report["errors_total"], 250);
    assert_eq!(report["created"], 10);
    assert_eq!(report["errors"][0]["row"], 12);
}

#[tokio::test]
async fn bad_files_get_a_clear_4xx_and_never_a_500() {
    let app = spawn_app_with(shared().await.redis.port, &[("IMPORT_MAX_BYTES", "65536")]).await;
    let (_admin, group, user) = app.seed_team().await;
    let good = rows(group, 2);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("empty", "text/csv", Vec::new(), 422, "The file is empty"),
        (
            "header only",
            "text/csv",
            b"title,priority\r\n".to_vec(),
            422,
            "no rows",
        ),
        (
            "blank rows only",
            "text/csv",
            b"title\n\n,\n".to_vec(),
            422,
            "no rows",
        ),
        (
            "no header",
            "text/csv",
            format!("Buy milk,1,{group}\n").into_bytes(),
            422,
            "header",
        ),
        (
            "unbalanced quotes",
            "text/csv",
            format!("title,group_id\n\"open,{group}\nnext,{group}\n").into_bytes(),
            400,
            "line 2",
        ),
        (
            "binary",
            "text/csv",
            vec![0x89, b'P', b'N', b'G', 0, 0, 1, 2],
            400,
            "NUL",
        ),
        (
            "invalid UTF-8",
            "text/csv",
            b"title,group_id\ncaf\xe9,1\n".to_vec(),
            400,
            "UTF-8",
        ),
        (
            "UTF-16",
            "text/csv",
            b"\xff\xfet\x00i\x00".to_vec(),
            400,
            "UTF-16",
        ),
        (
            "twice a column",
            "text/csv",
            b"title,task_name\na,b\n".to_vec(),
            422,
            "twice",
        ),
        (
            "JSON",
            "application/json",
            b"{\"title\":\"x\"}".to_vec(),
            415,
            "text/csv",
        ),
        ("no type", "", good.clone().into_bytes(), 415, "text/csv"),
        (
            "too large",
            "text/csv",
            format!("{good}{}", "x,\n".repeat(30_000)).into_bytes(),
            413,
            "65536 bytes",
        ),
        (
            "a form without its file",
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--XyZ--\r\n"
                .to_vec(),
            422,
            "file",
        ),
        (
            "a broken form",
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nnonsense".to_vec(),
            400,
            "multipart",
        ),
    ];
    let mut failures = Vec::new();
    for (case, media, body, want, says) in cases {
        let mut headers = vec![("x-owner-password", taskmaster_tests::OWNER_PASSWORD)];
        if !media.is_empty() {
            headers.push(("content-type", media));
        }
        let res = app
            .request(Method::POST, &import_path(&user, ""), &headers, body)
            .await;
        let error = res.json()["error"].as_str().unwrap_or_default().to_owned();
        if res.status.as_u16() != want || !error.contains(says) {
            failures.push(format!(
                "{case}: want {want} saying {says:?}, got {} {}",
                res.status,
                res.text()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A form's `file` field is the file (seed 004's upload).
    let form = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{good}\r\n--XyZ--\r\n"
    );
    let res = app
        .upload(
            &import_path(&user, ""),
            &user.auth(),
            "multipart/form-data; boundary=XyZ",
            form,
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert_eq!(held(&app, user.id).await, 2);
    // Bad options name their parameter.
    for query in ["?partial=maybe", "?dry_run=2", "?group_id=abc"] {
        import(&app, &user, &user.auth(), query, &good)
            .await
            .assert_invalid(
                query
                    .trim_start_matches('?')
                    .split('=')
                    .next()
                    .unwrap_or_default(),
            );
    }
}

#[tokio::test]
async fn only_who_may_create_a_users_tasks_may_import_them() {
    let app = spawn_app().await;
    let (admin, group, user) = app.seed_team().await;
    let other_admin = app.seed_user("group_admin", &[]).await;
    let other_group = app.seed_group(other_admin.id).await;
    app.seed_member(other_group, user.id).await;
    let stranger = app.seed_user("user", &[group]).await;
    let in_group = rows(group, 1);
    let in_other = rows(other_group, 1);
    let cases: Vec<(&str, Auth, &str, u16)> = vec![
        ("the user itself", user.auth(), &in_group, 201),
        ("the owner", Auth::Owner, &in_other, 201),
        (
            "its group's admin, into that group",
            admin.auth(),
            &in_group,
            201,
        ),
        (
            "its group's admin, into another group",
            admin.auth(),
            &in_other,
            422,
        ),
        ("another member", stranger.auth(), &in_group, 403),
        (
            "an admin of none of its groups",
            app.seed_user("group_admin", &[]).await.auth(),
            &in_group,
            403,
        ),
        ("nobody", Auth::None, &in_group, 401),
    ];
    for (who, auth, csv, want) in cases {
        let res = import(&app, &user, &auth, "", csv).await;
        assert_eq!(res.status.as_u16(), want, "{who}: {}", res.text());
    }
    // The refused admin learns which row and why.
    let res = import(&app, &user, &admin.auth(), "", &in_other).await;
    assert_eq!(
        refused_rows(&res.json()["report"]),
        [(Some(2), Some("group_id".to_owned()))]
    );
    assert_eq!(held(&app, user.id).await, 3);
}

/// `csv` imported by `user` itself under `Idempotency-Key: key`.
async fn keyed(app: &TestApp, user: &Seeded, key: &str, csv: &str) -> TestResponse {
    let auth = user.auth().header().expect("credentials");
    let headers = [
        (auth.0, auth.1.as_str()),
        ("content-type", "text/csv"),
        ("idempotency-key", key),
    ];
    app.request(
        Method::POST,
        &import_path(user, ""),
        &headers,
        csv.to_owned(),
    )
    .await
}

#[tokio::test]
async fn an_import_sent_again_with_its_idempotency_key_writes_once() {
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let csv = rows(group, 5);
    let first = keyed(&app, &user, "import-1", &csv).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let again = keyed(&app, &user, "import-1", &csv).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["data"]["id"], first.json()["data"]["id"]);
    assert_eq!(held(&app, user.id).await, 5);
    let other = keyed(&app, &user, "import-1", &rows(group, 6)).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text()
    );
}

/// The fault run's finding 11 (seed 7, appendfsync always): an import
/// whose answer was lost, sent again across a restore, found its key's
/// record naming a job the restore had forgotten, and was answered 500.
#[tokio::test]
async fn an_import_sent_again_after_a_restore_forgot_its_job_is_409_and_writes_nothing_twice() {
    let dir = crate::restore::backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = crate::restore::syncd_for(&app, &dir).await;
    let (_admin, group, user) = app.seed_team().await;
    let csv = rows(group, 5);
    let first = keyed(&app, &user, "import-across-a-restore", &csv).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let res = crate::restore::admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    let again = keyed(&app, &user, "import-across-a-restore", &csv).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    let error = again.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("Idempotency-Key"), "{error}");
    assert!(error.contains("restore"), "{error}");
    assert_eq!(held(&app, user.id).await, 5, "the rows are written once");
    let _ = std::fs::remove_dir_all(&dir);
}
