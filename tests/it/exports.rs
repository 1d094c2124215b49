//! Exports of a user's and a group's tasks (`api/src/export.rs`): CSV by
//! default (RFC 4180, a header row, formula-like cells neutralised with a
//! leading `'` that one strip undoes) or JSON; every task the caller may
//! read, by id, streamed a page (500 tasks) at a time; the lists' filters;
//! paging, `sort` and unknown formats refused; a million tasks exported
//! with the api process's peak memory flat.

use std::collections::BTreeMap;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_api::export::COLUMNS;
use taskmaster_tests::{Auth, Seeded, TestApp, TestResponse, bulk, spawn_app, spawn_child_api};

use crate::labels::create;

async fn export(app: &TestApp, path: &str, auth: &Auth) -> TestResponse {
    let res = app.call(Method::GET, path, auth, None).await;
    assert_eq!(res.status, StatusCode::OK, "{path}: {}", res.text());
    assert!(
        res.header("etag").is_none(),
        "a streamed export carries no ETag"
    );
    res
}

/// A CSV export's records as column → cell, checking the header.
fn records(res: &TestResponse) -> Vec<BTreeMap<String, String>> {
    assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut reader = csv::ReaderBuilder::new().from_reader(&res.body[..]);
    let header: Vec<String> = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, COLUMNS);
    assert!(res.body.ends_with(b"\r\n"), "RFC 4180 lines end with CRLF");
    reader
        .records()
        .map(|r| {
            let r = r.expect("a well-formed record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// A cell as it was before the export neutralised it.
fn recovered(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

fn ids(tasks: &[Value]) -> Vec<u64> {
    tasks
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect()
}

#[tokio::test]
async fn a_csv_export_neutralises_formula_cells_and_gives_every_task_back() {
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let titles = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1+1",
        "-2",
        "@SUM(A1)",
        "\ttab first",
        "'quoted already",
        "comma, \"quotes\" and\r\na new line",
        "plain ✓ ünïcode",
    ];
    let mut made = Vec::new();
    for (i, title) in titles.iter().enumerate() {
        made.push(
            create(
                &app,
                &user,
                json!({"title": title, "group_id": group, "information": format!("=cmd|' /C calc'!A{i}"),
                       "labels": ["a,b", "=x", "q;4"], "priority": 1 + i % 3}),
            )
            .await,
        );
    }
    let res = export(
        &app,
        &format!("/users/{}/tasks/export", user.id),
        &user.auth(),
    )
    .await;
    assert_eq!(
        res.header("content-disposition"),
        Some(format!("attachment; filename=\"user-{}-tasks.csv\"", user.id).as_str())
    );
    let rows = records(&res);
    assert_eq!(rows.len(), made.len());
    for (row, task) in rows.iter().zip(&made) {
        let title = task["title"].as_str().expect("title");
        // What a spreadsheet would run starts with a quote; the rest is kept.
        let risky = matches!(
            title.as_bytes()[0],
            b'=' | b'+' | b'-' | b'@' | b'\t' | b'\''
        );
        assert_eq!(
            row["title"].starts_with('\''),
            risky,
            "{title:?} as {:?}",
            row["title"]
        );
        assert_eq!(recovered(&row["title"]), title);
        assert!(row["information"].starts_with("'="));
        assert_eq!(recovered(&row["information"]), task["information"]);
        let labels: Value = serde_json::from_str(&row["labels"]).expect("labels as JSON");
        assert_eq!(labels, task["labels"]);
        for field in ["id", "priority", "user_id", "group_id", "created_by"] {
            assert_eq!(row[field], task[field].to_string(), "{field}");
        }
        for field in ["deadline", "created_at", "updated_at", "state"] {
            assert_eq!(row[field], task[field].as_str().expect(field), "{field}");
        }
        assert_eq!(row["status"], "false");
        assert_eq!(row["completed_at"], "");
    }
}

#[tokio::test]
async fn an_export_of_thousands_of_tasks_streams_them_all_by_id_as_the_list_has_them() {
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let mut redis = app.redis().await;
    // Across five pages of the export's walk.
    let first = bulk::seed_tasks(&mut redis, &app.keys, user.id, group, 2_300).await;
    let json_export = export(
        &app,
        &format!("/users/{}/tasks/export?format=json", user.id),
        &Auth::Owner,
    )
    .await;
    assert_eq!(json_export.header("content-type"), Some("application/json"));
    let body = json_export.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["user_id"], user.id);
    let exported = body["data"]["tasks"].as_array().expect("tasks").clone();
    assert_eq!(ids(&exported), (first..first + 2_300).collect::<Vec<_>>());
    let list = app
        .call(
            Method::GET,
            &format!("/users/{}/tasks", user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(
        list.json()["data"]["tasks"].as_array().expect("list"),
        &exported
    );

    let csv_export = export(&app, &format!("/groups/{group}/tasks/export"), &Auth::Owner).await;
    let rows = records(&csv_export);
    assert_eq!(rows.len(), 2_300);
    assert_eq!(rows[2_299]["id"], (first + 2_299).to_string());
}

#[tokio::test]
async fn each_caller_exports_only_the_tasks_it_may_read() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let other_admin = app.seed_user("group_admin", &[]).await;
    let (g1, g2) = (
        app.seed_group(admin.id).await,
        app.seed_group(other_admin.id).await,
    );
    let user = app.seed_user("user", &[g1, g2]).await;
    let member = app.seed_user("user", &[g1]).await;
    let in_g1 = create(&app, &user, json!({"title": "in g1", "group_id": g1})).await;
    let in_g2 = create(&app, &user, json!({"title": "in g2", "group_id": g2})).await;
    let members = create(&app, &member, json!({"title": "member's", "group_id": g1})).await;
    let exported = |res: TestResponse| ids(res.json()["data"]["tasks"].as_array().expect("tasks"));
    let id = |t: &Value| t["id"].as_u64().expect("id");
    let user_path = format!("/users/{}/tasks/export?format=json", user.id);
    let group_path = format!("/groups/{g1}/tasks/export?format=json");
    // (caller, path, the tasks it gets)
    let table: [(&Seeded, &String, Vec<u64>); 5] = [
        (&user, &user_path, vec![id(&in_g1), id(&in_g2)]),
        // An admin sees the user's tasks in its own groups only.
        (&admin, &user_path, vec![id(&in_g1)]),
        (&admin, &group_path, vec![id(&in_g1), id(&members)]),
        // A plain member, its own tasks in the group.
        (&member, &group_path, vec![id(&members)]),
        (&user, &group_path, vec![id(&in_g1)]),
    ];
    for (who, path, want) in table {
        assert_eq!(
            exported(export(&app, path, &who.auth()).await),
            want,
            "{} {path}",
            who.id
        );
    }
    assert_eq!(
        exported(export(&app, &user_path, &Auth::Owner).await),
        vec![id(&in_g1), id(&in_g2)]
    );
}

#[tokio::test]
async fn exports_take_the_lists_filters_and_refuse_paging_sorting_and_unknown_formats() {
    let app = spawn_app().await;
    let (_admin, group, user) = app.seed_team().await;
    let done = create(
        &app,
        &user,
        json!({"title": "done", "group_id": group, "state": "done"}),
    )
    .await;
    let labelled = create(
        &app,
        &user,
        json!({"title": "l", "group_id": group, "labels": ["x"]}),
    )
    .await;
    create(&app, &user, json!({"title": "neither", "group_id": group})).await;
    let base = format!("/users/{}/tasks/export", user.id);
    for (query, want) in [("state=done", &done), ("label=x", &labelled)] {
        let res = export(&app, &format!("{base}?format=json&{query}"), &Auth::Owner).await;
        assert_eq!(
            ids(res.json()["data"]["tasks"].as_array().expect("tasks")),
            [want["id"].as_u64().expect("id")]
        );
    }
    for (query, field) in [
        ("format=xml", "format"),
        ("limit=5", "limit"),
        ("cursor=abc", "cursor"),
        ("page=2", "page"),
        ("per_page=5", "per_page"),
        ("skip=1", "skip"),
        ("sort=-priority", "sort"),
        ("state=bogus", "state"),
        ("deadline_before=tomorrow", "deadline_before"),
    ] {
        let res = app
            .call(Method::GET, &format!("{base}?{query}"), &Auth::Owner, None)
            .await;
        res.assert_invalid(field);
    }
    // Judged after the caller may read the list: a stranger learns nothing.
    let stranger = app.seed_user("user", &[]).await;
    let res = app
        .call(
            Method::GET,
            &format!("{base}?format=xml"),
            &stranger.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
}

/// A memory figure of process `pid` (`VmRSS`, `VmHWM`), in kB.
fn memory_kb(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn exporting_a_million_tasks_leaves_the_api_processs_peak_memory_flat() {
    let _heavy = taskmaster_tests::heavy().await;
    // The api in a process of its own, so that its memory is its own.
    let (api, app) = spawn_child_api(&[]).await;
    let (_admin, group, user) = app.seed_team().await;
    let mut redis = app.redis().await;
    bulk::seed_tasks(&mut redis, &app.keys, user.id, group, 1_000_000).await;
    let path = format!("/users/{}/tasks/export", user.id);
    // A first export of the list's first tasks warms the api's buffers.
    let res = app
        .call(
            Method::GET,
            &format!("{path}?deadline_before=2027-01-02"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{}\napi:\n{}",
        res.text(),
        api.output()
    );
    let before = memory_kb(api.pid(), "VmHWM");
    let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
    let after = memory_kb(api.pid(), "VmHWM");
    assert_eq!(res.status, StatusCode::OK, "api:\n{}", api.output());
    let lines = res.body.iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, 1_000_001, "a header and every task");
    // The CSV is over 100 MB: held whole, it would show many times over.
    assert!(res.body.len() > 100_000_000, "{} bytes", res.body.len());
    assert!(
        after < before + 32 * 1024,
        "the api's peak memory grew from {before} kB to {after} kB for an export of {} bytes",
        res.body.len()
    );
}
