//! Pages, orders and filters of the task lists: each paging style with its
//! headers, every filter and order against an oracle computed here, a
//! cursor walk while rows come and go, the bounds (`MAX_PAGE_SIZE`,
//! `MAX_UNPAGED`) and what each caller may see. The order indexes
//! themselves: `sort_indexes.rs`; the other lists' pages: `list_pages.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Days, NaiveDate, Utc};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp, TestResponse, spawn_app, spawn_app_with};

/// Today as the server judges it (`TZ` is not set in the tests: UTC).
fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// What a task is made with: priority, deadline (days from today;
/// `None`: no deadline), state and labels.
struct Shape<'a>(u8, Option<i64>, &'a str, &'a [&'a str]);

/// A task of `user` in `group` made as `shape`; its id.
async fn make(app: &TestApp, user: u64, group: u64, title: &str, shape: Shape<'_>) -> u64 {
    let Shape(priority, deadline, state, labels) = shape;
    let deadline = deadline
        .map(|d| {
            let day = if d >= 0 {
                today() + Days::new(d as u64)
            } else {
                today() - Days::new((-d) as u64)
            };
            day.to_string()
        })
        .unwrap_or_default();
    let res = app
        .call(
            Method::POST,
            &format!("/users/{user}/tasks"),
            &Auth::Owner,
            Some(json!({
                "title": title, "group_id": group, "priority": priority,
                "deadline": deadline, "state": state, "labels": labels,
                "information": format!("about {title}"),
            })),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    res.json()["data"]["task"]["id"].as_u64().expect("id")
}

/// A user in a group with `n` varied tasks (priorities, deadlines from a
/// week ago to a week ahead or none, states, labels); some are updated
/// afterwards, so update times differ from creation order.
pub(crate) async fn varied(app: &TestApp, n: usize) -> (u64, u64, Vec<u64>) {
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let user = app.seed_user("user", &[group]).await;
    let states = ["todo", "in_progress", "done"];
    let mut ids = Vec::new();
    for i in 0..n {
        let deadline = if i % 5 == 4 {
            None
        } else {
            Some((i as i64 * 3) % 15 - 7)
        };
        let labels: &[&str] = if i % 3 == 0 { &["red"] } else { &[] };
        let title = if i % 4 == 0 {
            format!("Needle {i}")
        } else {
            format!("task {i}")
        };
        let id = make(
            app,
            user.id,
            group,
            &title,
            Shape((i % 3 + 1) as u8, deadline, states[i % 3], labels),
        )
        .await;
        ids.push(id);
    }
    // Update every seventh task, newest first, so update order differs.
    for id in ids.iter().rev().step_by(7) {
        let res = app
            .call(
                Method::PUT,
                &format!("/users/{}/tasks/{id}", user.id),
                &Auth::Owner,
                Some(json!({"information": "changed"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    (user.id, group, ids)
}

/// Every task of the unpaged answer.
async fn all_tasks(app: &TestApp, path: &str) -> Vec<Value> {
    let res = app.call(Method::GET, path, &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["data"]["tasks"]
        .as_array()
        .expect("tasks")
        .clone()
}

fn ids(tasks: &[Value]) -> Vec<u64> {
    tasks
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect()
}

/// Walks a list by cursor from `path` (which holds its query, `limit`
/// among it): the tasks in order (of a task list), and each page's answer.
pub(crate) async fn walk(
    app: &TestApp,
    path: &str,
    auth: &Auth,
) -> (Vec<Value>, Vec<TestResponse>) {
    let mut tasks = Vec::new();
    let mut pages = Vec::new();
    let mut next = path.to_owned();
    for _ in 0..10_000 {
        let res = app.call(Method::GET, &next, auth, None).await;
        assert_eq!(res.status, StatusCode::OK, "{next}: {}", res.text());
        let body = res.json();
        // Other lists name their rows otherwise (see list_pages.rs).
        if let Some(rows) = body["data"]["tasks"].as_array() {
            tasks.extend(rows.iter().cloned());
        }
        let cursor = body["data"]["next_cursor"].clone();
        pages.push(res);
        match cursor.as_str() {
            Some(c) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                next = format!("{path}{sep}cursor={c}");
            }
            None => {
                assert!(cursor.is_null(), "next_cursor is a string or null");
                return (tasks, pages);
            }
        }
    }
    panic!("the walk of {path} did not end");
}

#[tokio::test]
async fn every_paging_style_walks_the_list_in_order_with_its_headers() {
    let app = spawn_app().await;
    let (user, _, made) = varied(&app, 23).await;
    let base = format!("/users/{user}/tasks");
    let everything = ids(&all_tasks(&app, &base).await);
    assert_eq!(everything, made, "unpaged: every task, by id");

    // Cursor: pages of 5, each with the total, a Link but on the last.
    let (tasks, pages) = walk(&app, &format!("{base}?limit=5"), &Auth::Owner).await;
    assert_eq!(ids(&tasks), made);
    assert_eq!(pages.len(), 5);
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page.header("x-total-count"), Some("23"));
        assert_eq!(page.json()["data"]["total"], 23);
        assert_eq!(page.json()["data"]["user_id"], user);
        let count = page.json()["data"]["tasks"].as_array().map(Vec::len);
        assert_eq!(
            page.json()["data"]["count"].as_u64().map(|c| c as usize),
            count
        );
        let last = i == pages.len() - 1;
        assert_eq!(page.header("link").is_none(), last, "page {i}");
    }
    // The Link is the next page itself.
    let link = pages[0].header("link").expect("link").to_owned();
    let target = link
        .strip_prefix('<')
        .and_then(|l| l.split_once(">; rel=\"next\""))
        .map(|(url, _)| url.to_owned())
        .expect("a next link");
    let followed = app.call(Method::GET, &target, &Auth::Owner, None).await;
    assert_eq!(
        followed.json()["data"]["tasks"],
        pages[1].json()["data"]["tasks"]
    );

    // page/per_page, and past the end.
    let mut paged = Vec::new();
    for page in 1..=5 {
        let res = app
            .call(
                Method::GET,
                &format!("{base}?page={page}&per_page=5"),
                &Auth::Owner,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.header("x-total-count"), Some("23"));
        assert_eq!(res.header("link").is_some(), page < 5, "page {page}");
        if let Some(link) = res.header("link") {
            assert!(link.contains(&format!("page={}", page + 1)), "{link}");
        }
        paged.extend(ids(res.json()["data"]["tasks"].as_array().expect("tasks")));
    }
    assert_eq!(paged, made);
    let beyond = app
        .call(
            Method::GET,
            &format!("{base}?page=9&per_page=5"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(beyond.json()["data"]["tasks"], json!([]));
    assert_eq!(beyond.json()["data"]["next_cursor"], Value::Null);

    // skip/limit.
    let res = app
        .call(
            Method::GET,
            &format!("{base}?skip=20&limit=5"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(
        ids(res.json()["data"]["tasks"].as_array().expect("tasks")),
        made[20..]
    );
    let res = app
        .call(
            Method::GET,
            &format!("{base}?skip=3&limit=4&sort=-id"),
            &Auth::Owner,
            None,
        )
        .await;
    let mut newest: Vec<u64> = made.clone();
    newest.reverse();
    assert_eq!(
        ids(res.json()["data"]["tasks"].as_array().expect("tasks")),
        newest[3..7]
    );
    assert!(res.header("link").expect("link").contains("skip=7"));

    // The unpaged answer has the reference's fields only.
    let res = app.call(Method::GET, &base, &Auth::Owner, None).await;
    let data = res.json()["data"].clone();
    let keys: BTreeSet<&str> = data
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["user_id", "tasks", "count"]));
    assert!(res.header("link").is_none() && res.header("x-total-count").is_none());
}

/// The oracle: `query`'s filters over `tasks`, as the api documents them.
fn filtered(tasks: &[Value], query: &[(&str, &str)]) -> Vec<Value> {
    let today = today();
    let day = |t: &Value| {
        NaiveDate::parse_from_str(t["deadline"].as_str().unwrap_or(""), "%Y-%m-%d").ok()
    };
    let time = |s: &str| DateTime::parse_from_rfc3339(s).expect("a time").to_utc();
    tasks
        .iter()
        .filter(|t| {
            let done = t["state"] == "done";
            query.iter().all(|(k, v)| match *k {
                "state" => t["state"] == *v,
                "status" => (*v == "completed") == done,
                "label" => t["labels"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x == v)),
                "priority" => v.parse::<u64>().ok() == t["priority"].as_u64(),
                "group_id" => v.parse::<u64>().ok() == t["group_id"].as_u64(),
                "date" => day(t).is_some_and(|d| d.to_string() == *v),
                "deadline_before" => day(t).is_some_and(|d| d.to_string().as_str() < *v),
                "deadline_after" => day(t).is_some_and(|d| d.to_string().as_str() > *v),
                "overdue" => (day(t).is_some_and(|d| d < today) && !done) == (*v == "true"),
                "due" => day(t).is_some_and(|d| {
                    let end = if *v == "today" {
                        today
                    } else {
                        today + Days::new(6)
                    };
                    d >= today && d <= end
                }),
                "updated_since" => time(t["updated_at"].as_str().expect("updated_at")) >= time(v),
                "q" => {
                    let q = v.to_lowercase();
                    t["title"]
                        .as_str()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(&q)
                        || t["information"]
                            .as_str()
                            .unwrap_or("")
                            .to_lowercase()
                            .contains(&q)
                }
                "sort" => true,
                other => panic!("no oracle for {other}"),
            })
        })
        .cloned()
        .collect()
}

/// The oracle: `tasks` in the order `sort` names (ties by id in the last
/// key's direction unless the id is named).
fn sorted(mut tasks: Vec<Value>, sort: &str) -> Vec<Value> {
    let mut keys: Vec<(String, bool)> = sort
        .split(',')
        .map(|k| match k.strip_prefix('-') {
            Some(k) => (k.to_owned(), true),
            None => (k.to_owned(), false),
        })
        .collect();
    if !keys.iter().any(|(k, _)| k == "id") {
        let desc = keys.last().is_some_and(|(_, d)| *d);
        keys.push(("id".to_owned(), desc));
    }
    let value = |t: &Value, key: &str| -> (i64, String) {
        match key {
            "id" | "priority" => (t[key].as_i64().expect("number"), String::new()),
            // No deadline sorts after every date.
            "deadline" => match t["deadline"].as_str() {
                Some("") | None => (1, String::new()),
                Some(d) => (0, d.to_owned()),
            },
            "updated_at" => (
                DateTime::parse_from_rfc3339(t["updated_at"].as_str().expect("time"))
                    .expect("a time")
                    .timestamp_micros(),
                String::new(),
            ),
            other => panic!("no such key {other}"),
        }
    };
    tasks.sort_by(|a, b| {
        for (key, desc) in &keys {
            let o = value(a, key).cmp(&value(b, key));
            if o.is_ne() {
                return if *desc { o.reverse() } else { o };
            }
        }
        std::cmp::Ordering::Equal
    });
    tasks
}

#[tokio::test]
async fn every_filter_and_order_answers_what_an_oracle_computed_here_does() {
    let app = spawn_app().await;
    let (user, group, _) = varied(&app, 40).await;
    let base = format!("/users/{user}/tasks");
    let everything = all_tasks(&app, &base).await;
    let (t0, t3, t7) = (
        today().to_string(),
        (today() + Days::new(3)).to_string(),
        (today() - Days::new(7)).to_string(),
    );
    let since = everything[20]["updated_at"]
        .as_str()
        .expect("time")
        .to_owned();
    let group_text = group.to_string();
    let filters: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("state", "done")],
        vec![("status", "pending")],
        vec![("label", "red")],
        vec![("priority", "2")],
        vec![("group_id", &group_text)],
        vec![("date", &t0)],
        vec![("deadline_before", &t3)],
        vec![("deadline_after", &t7)],
        vec![
            ("deadline_after", &t7),
            ("deadline_before", &t3),
            ("state", "todo"),
        ],
        vec![("overdue", "true")],
        vec![("overdue", "false")],
        vec![("due", "today")],
        vec![("due", "week")],
        vec![("updated_since", &since)],
        vec![("q", "NEEDLE")],
        vec![("q", "needle"), ("priority", "1")],
    ];
    let sorts = [
        "id",
        "-id",
        "deadline",
        "-deadline",
        "priority",
        "-priority",
        "updated_at",
        "-updated_at",
        "deadline,-priority,updated_at,id",
        "-priority,id",
        "priority,-deadline",
    ];
    for filter in &filters {
        for sort in sorts {
            let mut query: Vec<(&str, &str)> = filter.clone();
            query.push(("sort", sort));
            let want = ids(&sorted(filtered(&everything, filter), sort));
            let text: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
                .collect();
            let path = format!("{base}?{}", text.join("&"));
            // Unpaged with the order asked for, then page by page.
            let unpaged = ids(&all_tasks(&app, &path).await);
            assert_eq!(unpaged, want, "{path}");
            let (paged, _) = walk(&app, &format!("{path}&limit=4"), &Auth::Owner).await;
            assert_eq!(ids(&paged), want, "{path} by pages of 4");
        }
    }
    // Bad values name their parameter.
    for (query, field) in [
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("per_page=9999&page=1", "per_page"),
        ("skip=-3", "skip"),
        ("cursor=%00%01", "cursor"),
        ("cursor=bm90IGEgY3Vyc29y", "cursor"),
        ("sort=title", "sort"),
        ("sort=id,id", "sort"),
        ("page=2&cursor=abc", "cursor"),
        ("date=2026-13-01", "date"),
        ("deadline_before=soon", "deadline_before"),
        ("due=month", "due"),
        ("overdue=maybe", "overdue"),
        ("updated_since=yesterday", "updated_since"),
        ("priority=7", "priority"),
    ] {
        let res = app
            .call(Method::GET, &format!("{base}?{query}"), &Auth::Owner, None)
            .await;
        res.assert_invalid(field);
    }
    // A cursor is bound to its order.
    let res = app
        .call(
            Method::GET,
            &format!("{base}?limit=2&sort=deadline"),
            &Auth::Owner,
            None,
        )
        .await;
    let cursor = res.json()["data"]["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let res = app
        .call(
            Method::GET,
            &format!("{base}?limit=2&sort=priority&cursor={cursor}"),
            &Auth::Owner,
            None,
        )
        .await;
    res.assert_invalid("cursor");
    let hostile = "A".repeat(4000);
    let res = app
        .call(
            Method::GET,
            &format!("{base}?cursor={hostile}"),
            &Auth::Owner,
            None,
        )
        .await;
    res.assert_invalid("cursor");
}

#[tokio::test]
async fn a_cursor_walk_sees_every_row_that_existed_throughout_exactly_once_while_rows_come_and_go()
{
    let app = Arc::new(spawn_app().await);
    let (user, group, made) = varied(&app, 150).await;
    // Every third task is deleted during the walks; the rest stay.
    let doomed: Vec<u64> = made.iter().copied().step_by(3).collect();
    let stable: BTreeSet<u64> = made
        .iter()
        .copied()
        .filter(|id| !doomed.contains(id))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let churn = {
        let (app, done) = (app.clone(), done.clone());
        tokio::spawn(async move {
            let mut doomed = doomed.into_iter();
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                // A new task, a deleted new one, and a deleted old one.
                let fresh = make(
                    &app,
                    user,
                    group,
                    "fresh",
                    Shape((i % 3 + 1) as u8, Some(i % 9 - 4), "todo", &[]),
                )
                .await;
                if i % 2 == 0 {
                    let res = app
                        .call(
                            Method::DELETE,
                            &format!("/users/{user}/tasks/{fresh}"),
                            &Auth::Owner,
                            None,
                        )
                        .await;
                    assert_eq!(res.status, StatusCode::OK);
                }
                if let Some(old) = doomed.next() {
                    let res = app
                        .call(
                            Method::DELETE,
                            &format!("/users/{user}/tasks/{old}"),
                            &Auth::Owner,
                            None,
                        )
                        .await;
                    assert_eq!(res.status, StatusCode::OK);
                }
                i += 1;
            }
            i
        })
    };
    for sort in [
        "id",
        "-id",
        "deadline",
        "-priority",
        "updated_at",
        "-deadline",
    ] {
        let (tasks, pages) = walk(
            &app,
            &format!("/users/{user}/tasks?limit=7&sort={sort}"),
            &Auth::Owner,
        )
        .await;
        let seen = ids(&tasks);
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for id in &seen {
            *counts.entry(*id).or_default() += 1;
        }
        assert!(counts.values().all(|n| *n == 1), "{sort}: a row seen twice");
        for id in &stable {
            assert_eq!(
                counts.get(id),
                Some(&1),
                "{sort}: task {id} seen {:?} times",
                counts.get(id)
            );
        }
        assert!(
            pages.len() > 10,
            "{sort}: the walk took {} pages",
            pages.len()
        );
    }
    done.store(true, Ordering::Relaxed);
    let rounds = churn.await.expect("the churn ran");
    assert!(
        rounds > 5,
        "rows came and went during the walks ({rounds} rounds)"
    );
}

#[tokio::test]
async fn a_list_beyond_max_unpaged_asks_for_paging_and_pages_stay_within_max_page_size() {
    let shared = taskmaster_tests::shared().await;
    let app = spawn_app_with(
        shared.redis.port,
        &[("MAX_UNPAGED", "10"), ("MAX_PAGE_SIZE", "5")],
    )
    .await;
    let (user, group, made) = varied(&app, 12).await;
    for path in [
        format!("/users/{user}/tasks"),
        format!("/users/{user}/tasks?state=todo"),
        format!("/users/{user}/tasks?sort=deadline,-priority"),
        format!("/groups/{group}/tasks"),
    ] {
        let res = app.call(Method::GET, &path, &Auth::Owner, None).await;
        let field = if path.contains("sort") {
            "sort"
        } else {
            "limit"
        };
        res.assert_invalid(field);
    }
    // One key needs no bound: a page of it is read from the index.
    let (tasks, _) = walk(
        &app,
        &format!("/users/{user}/tasks?limit=5&sort=-deadline"),
        &Auth::Owner,
    )
    .await;
    assert_eq!(tasks.len(), made.len());
    let res = app
        .call(
            Method::GET,
            &format!("/users/{user}/tasks?limit=6"),
            &Auth::Owner,
            None,
        )
        .await;
    res.assert_invalid("limit");
    // A filtered list reads at most 10 × MAX_PAGE_SIZE rows per page: a
    // filter that matches nothing ends within that.
    let (tasks, _) = walk(
        &app,
        &format!("/users/{user}/tasks?limit=5&q=nothing-matches"),
        &Auth::Owner,
    )
    .await;
    assert!(tasks.is_empty());
}

#[tokio::test]
async fn a_group_list_pages_what_each_caller_may_see() {
    let app = spawn_app().await;
    let admin = app.seed_user("group_admin", &[]).await;
    let group = app.seed_group(admin.id).await;
    let (ann, bob) = (
        app.seed_user("user", &[group]).await,
        app.seed_user("user", &[group]).await,
    );
    let mut of_ann = Vec::new();
    for i in 0..9 {
        of_ann.push(make(&app, ann.id, group, "a", Shape(1, Some(i), "todo", &[])).await);
        make(&app, bob.id, group, "b", Shape(2, None, "todo", &[])).await;
    }
    let path = format!("/groups/{group}/tasks?limit=4");
    let (tasks, pages) = walk(&app, &path, &admin.auth()).await;
    assert_eq!(tasks.len(), 18);
    assert_eq!(pages[0].header("x-total-count"), Some("18"));
    assert_eq!(pages[0].json()["data"]["group_id"], group);
    // A member sees its own tasks of the group, on every page.
    let (tasks, pages) = walk(&app, &path, &ann.auth()).await;
    assert_eq!(ids(&tasks), of_ann);
    assert!(
        pages.iter().all(|p| p.header("x-total-count").is_none()),
        "no total that counts others' tasks"
    );
    // And never another user's list, paged or not.
    for path in [
        format!("/users/{}/tasks?limit=2", bob.id),
        format!("/users/{}/tasks", bob.id),
    ] {
        let res = app.call(Method::GET, &path, &ann.auth(), None).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
    }
    // The admin pages a member's list: its tasks in the admin's group.
    let (tasks, _) = walk(
        &app,
        &format!("/users/{}/tasks?limit=4&sort=-deadline", ann.id),
        &admin.auth(),
    )
    .await;
    assert_eq!(tasks.len(), 9);
}
