//! Webhook deliveries by syncd to a real HTTP receiver: signed as
//! documented, retried, given up and redelivered, never carrying what the
//! hook's owner may not read, never sent inside the network unless
//! allowed, and a slow receiver delays only its own hook.

use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::receiver::{Behaviour, Receiver};
use taskmaster_tests::{Auth, ChildProcess, TestApp, eventually, shared, spawn_app_with};

/// An app that may register loopback receivers.
async fn app() -> TestApp {
    spawn_app_with(
        shared().await.redis.port,
        &[("WEBHOOK_ALLOW_HOSTS", "127.0.0.1")],
    )
    .await
}

/// A syncd delivering to loopback receivers, retrying fast, with `extra`.
async fn syncd(app: &TestApp, extra: &[(&str, &str)]) -> ChildProcess {
    let shared = shared().await;
    let db = shared.empty_database().await.expect("database");
    let url = shared.postgres.url(&db);
    let mut vars = vec![
        ("SYNC_INTERVAL", "1h"),
        ("WEBHOOK_ALLOW_HOSTS", "127.0.0.1"),
        ("WEBHOOK_RETRY_BASE", "100ms"),
    ];
    vars.extend_from_slice(extra);
    app.syncd_process(&url, &vars).await.0
}

/// Registers a hook as `auth`; its id and secret.
async fn hook(app: &TestApp, auth: &Auth, body: Value) -> (u64, String) {
    let res = app.call(Method::POST, "/webhooks", auth, Some(body)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let data = &res.json()["data"];
    (
        data["webhook"]["id"].as_u64().expect("id"),
        data["secret"].as_str().expect("secret").to_owned(),
    )
}

/// The hook's deliveries, as the api lists them.
async fn deliveries(app: &TestApp, auth: &Auth, hook: u64) -> Vec<Value> {
    let res = app
        .call(
            Method::GET,
            &format!("/webhooks/{hook}/deliveries"),
            auth,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["data"]["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

/// The documented recipe, as a receiver would write it: hex
/// HMAC-SHA256(secret, timestamp + "." + body), compared with the header.
fn verified(secret: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    header == format!("sha256={expected}")
}

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn deliveries_are_signed_as_documented_and_carry_each_change_once() {
    let app = app().await;
    let mut receiver = Receiver::start(Behaviour::default()).await;
    let _syncd = syncd(&app, &[]).await;
    let (admin, g, user) = app.seed_team().await;
    let (id, secret) = hook(
        &app,
        &Auth::Owner,
        json!({"url": receiver.url("/in"), "events": ["task.*"]}),
    )
    .await;

    let t = app.seed_task(user.id, g, "delivered").await;
    let got = receiver.next(WAIT).await.expect("a delivery");
    assert_eq!(got.path, "/in");
    assert_eq!(got.header("x-taskmaster-event"), "task.created");
    assert_eq!(got.header("content-type"), "application/json");
    let body = got.json();
    assert_eq!(body["event"], "task.created");
    assert_eq!(body["actor"], "owner");
    assert_eq!(body["data"]["id"], t);
    assert_eq!(body["data"]["title"], "delivered");
    assert!(
        body["occurred_at"]
            .as_str()
            .is_some_and(|at| at.starts_with("20"))
    );
    assert_eq!(
        got.header("x-taskmaster-delivery"),
        body["delivery_id"].as_str().expect("id")
    );
    let ts = got.header("x-taskmaster-timestamp");
    let age = chrono::Utc::now().timestamp() - ts.parse::<i64>().expect("a Unix time");
    assert!((0..60).contains(&age), "timestamp {ts}");
    assert!(
        verified(&secret, ts, &got.body, got.header("x-taskmaster-signature")),
        "{:?}",
        got.headers
    );
    assert!(!verified(
        "another secret, not this hook's",
        ts,
        &got.body,
        got.header("x-taskmaster-signature")
    ));

    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{t}", user.id),
            &admin.auth(),
            Some(json!({"priority": 1})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let got = receiver.next(WAIT).await.expect("a delivery");
    assert_eq!(got.json()["event"], "task.updated");
    assert_eq!(got.json()["data"]["priority"], 1);
    assert_eq!(got.json()["actor"], admin.id.to_string());
    // Users are not what it asked for.
    app.seed_user("user", &[g]).await;
    assert!(receiver.next(Duration::from_millis(800)).await.is_none());

    let listed = deliveries(&app, &Auth::Owner, id).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["event"], "task.updated");
    assert!(listed.iter().all(|d| d["status"] == "delivered"
        && d["attempts"] == 1
        && d["last_response_code"] == 200));
    assert_eq!(receiver.log().len(), 2, "each change once");
    // Both left the hook's queue, and the hook the set of hooks with one:
    // a delivery still queued would be claimed again when its claim's lease
    // ran out (30 s and more) and sent twice.
    let mut redis = app.redis().await;
    let queued: u64 = redis::cmd("ZCARD")
        .arg(app.keys.webhooks_due(id))
        .query_async(&mut redis)
        .await
        .expect("zcard");
    assert_eq!(queued, 0, "deliveries left in the queue");
    let due: bool = redis::cmd("SISMEMBER")
        .arg(app.keys.webhooks_due_hooks())
        .arg(id)
        .query_async(&mut redis)
        .await
        .expect("sismember");
    assert!(!due, "a hook with nothing queued is still due");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_the_same_delivery_id_until_it_answers() {
    let app = app().await;
    let mut receiver = Receiver::start(Behaviour {
        fail_first: 3,
        ..Behaviour::default()
    })
    .await;
    let _syncd = syncd(&app, &[]).await;
    let (_admin, g, user) = app.seed_team().await;
    let (id, _) = hook(
        &app,
        &Auth::Owner,
        json!({"url": receiver.url("/in"), "events": ["task.created"]}),
    )
    .await;
    app.seed_task(user.id, g, "persistent").await;
    let mut ids = Vec::new();
    let mut times = Vec::new();
    for _ in 0..4 {
        let got = receiver.next(WAIT).await.expect("an attempt");
        ids.push(got.header("x-taskmaster-delivery").to_owned());
        times.push(got.at);
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    // Backoff: each wait longer than the one before (100 ms, 200, 400, with jitter).
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(90) && gaps[2] > gaps[0],
        "{gaps:?}"
    );
    let done = eventually(WAIT, || async {
        let d = deliveries(&app, &Auth::Owner, id).await;
        (d.first()?["status"] == "delivered").then(|| d[0].clone())
    })
    .await
    .expect("delivered at last");
    assert_eq!(
        (
            done["attempts"].as_u64(),
            done["last_response_code"].as_u64()
        ),
        (Some(4), Some(200))
    );
    assert!(
        receiver.next(Duration::from_millis(800)).await.is_none(),
        "nothing more"
    );
}

/// The mutation campaign's Lua survivor (`webhook_claim.lua`, a flipped
/// comparison): cancelling the first of several deliveries took the hook
/// off the due list, and the rest stayed pending for ever.
#[tokio::test]
async fn every_pending_delivery_of_a_deactivated_hook_is_cancelled() {
    let app = app().await;
    let receiver = Receiver::start(Behaviour {
        fail_first: u32::MAX,
        ..Behaviour::default()
    })
    .await;
    // One delivery at a time per hook: the cancels come one by one.
    let _syncd = syncd(&app, &[("WEBHOOK_PER_HOOK", "1")]).await;
    let (_admin, g, user) = app.seed_team().await;
    let (id, _) = hook(
        &app,
        &Auth::Owner,
        json!({"url": receiver.url("/in"), "events": ["task.created"]}),
    )
    .await;
    for n in 0..3 {
        app.seed_task(user.id, g, &format!("refused {n}")).await;
    }
    let pending = eventually(WAIT, || async {
        let d = deliveries(&app, &Auth::Owner, id).await;
        (d.len() == 3 && d.iter().all(|x| x["attempts"].as_u64() >= Some(1))).then_some(d)
    })
    .await;
    assert!(pending.is_some(), "three deliveries tried and failed");
    let res = app
        .call(
            Method::PUT,
            &format!("/webhooks/{id}"),
            &Auth::Owner,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let statuses = eventually(WAIT, || async {
        let d = deliveries(&app, &Auth::Owner, id).await;
        let statuses: Vec<String> = d
            .iter()
            .map(|x| x["status"].as_str().unwrap_or_default().to_owned())
            .collect();
        statuses
            .iter()
            .all(|s| s == "cancelled")
            .then_some(statuses)
    })
    .await;
    let last = deliveries(&app, &Auth::Owner, id).await;
    assert!(
        statuses.is_some(),
        "every delivery cancelled: {:?}",
        last.iter().map(|x| &x["status"]).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_delivery_past_its_retry_window_is_a_dead_letter_until_redelivered() {
    let app = app().await;
    let mut receiver = Receiver::start(Behaviour {
        fail_first: u32::MAX,
        ..Behaviour::default()
    })
    .await;
    let _syncd = syncd(&app, &[("WEBHOOK_RETRY_WINDOW", "1s")]).await;
    let (admin, g, user) = app.seed_team().await;
    let (id, _) = hook(
        &app,
        &admin.auth(),
        json!({"url": receiver.url("/in"), "events": ["task.*"], "group_id": g}),
    )
    .await;
    app.seed_task(user.id, g, "doomed").await;
    let dead = eventually(WAIT, || async {
        let d = deliveries(&app, &admin.auth(), id).await;
        (d.first()?["status"] == "dead").then(|| d[0].clone())
    })
    .await
    .expect("given up");
    assert!(dead["attempts"].as_u64().unwrap_or(0) >= 2, "{dead}");
    assert_eq!(dead["last_response_code"], 500);
    assert_eq!(dead["next_attempt_at"], Value::Null);
    while receiver.next(Duration::from_millis(300)).await.is_some() {}
    let tried = receiver.log().len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.log().len(), tried, "a dead letter is not retried");

    // Redelivered by hand once the receiver is fixed.
    receiver.fail_next(0);
    let delivery = dead["id"].as_str().expect("id");
    let path = format!("/webhooks/{id}/deliveries/{delivery}/redeliver");
    let stranger = app.seed_user("group_admin", &[]).await;
    assert_eq!(
        app.call(Method::POST, &path, &stranger.auth(), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let res = app.call(Method::POST, &path, &admin.auth(), None).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text());
    let got = receiver.next(WAIT).await.expect("redelivered");
    assert_eq!(got.header("x-taskmaster-delivery"), delivery);
    let done = eventually(WAIT, || async {
        let d = deliveries(&app, &admin.auth(), id).await;
        (d.first()?["status"] == "delivered").then_some(())
    })
    .await;
    assert!(done.is_some());
    let res = app
        .call(
            Method::POST,
            &format!("/webhooks/{id}/deliveries/1-0.999/redeliver"),
            &admin.auth(),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
}

#[tokio::test]
async fn a_group_admins_hook_never_carries_another_groups_rows() {
    let app = app().await;
    let mut receiver = Receiver::start(Behaviour::default()).await;
    let _syncd = syncd(&app, &[]).await;
    let (admin, g1, u1) = app.seed_team().await;
    let (_admin2, g2, u2) = app.seed_team().await;
    hook(&app, &admin.auth(), json!({"url": receiver.url("/g1"), "events": ["task.*", "user.*", "group.*"], "group_id": g1})).await;
    let mine = app.seed_task(u1.id, g1, "mine").await;
    for i in 0..5 {
        app.seed_task(u2.id, g2, &format!("theirs {i}")).await;
    }
    let res = app
        .call(
            Method::PUT,
            &format!("/groups/{g2}"),
            &Auth::Owner,
            Some(json!({"name": "renamed elsewhere"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let last = app.seed_task(u1.id, g1, "mine too").await;
    let mut seen = Vec::new();
    loop {
        let got = receiver.next(WAIT).await.expect("deliveries");
        let body = got.json();
        assert!(!got.body.windows(6).any(|w| w == b"theirs"), "{body}");
        assert!(!body.to_string().contains("renamed elsewhere"), "{body}");
        seen.push((
            body["event"].as_str().unwrap_or_default().to_owned(),
            body["data"]["id"].clone(),
        ));
        if body["data"]["id"] == last {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            ("task.created".to_owned(), json!(mine)),
            ("task.created".to_owned(), json!(last))
        ]
    );
}

#[tokio::test]
async fn an_address_inside_the_network_is_refused_at_delivery_time_too() {
    let app = app().await;
    let mut receiver = Receiver::start(Behaviour::default()).await;
    // This syncd allows no host: the api let the hook in, syncd does not.
    let _syncd = syncd(&app, &[("WEBHOOK_ALLOW_HOSTS", "")]).await;
    let (_admin, g, user) = app.seed_team().await;
    let (id, _) = hook(
        &app,
        &Auth::Owner,
        json!({"url": receiver.url("/in"), "events": ["task.*"]}),
    )
    .await;
    app.seed_task(user.id, g, "kept in").await;
    let dead = eventually(WAIT, || async {
        let d = deliveries(&app, &Auth::Owner, id).await;
        (d.first()?["status"] == "dead").then(|| d[0].clone())
    })
    .await
    .expect("refused");
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("loopback")),
        "{dead}"
    );
    assert!(
        receiver.next(Duration::from_millis(500)).await.is_none(),
        "nothing was sent"
    );
}

/// A slow receiver (answering after `delay`, 2 at a time) hooked to
/// `task.created`, a fast one hooked to `fast_events`, and a team to write
/// as: the slow and fast receivers, the team's group and user.
async fn slow_and_fast(
    app: &TestApp,
    delay: Duration,
    fast_events: &str,
) -> (
    Receiver,
    Receiver,
    ChildProcess,
    u64,
    taskmaster_tests::Seeded,
) {
    let slow = Receiver::start(Behaviour {
        delay,
        ..Behaviour::default()
    })
    .await;
    let fast = Receiver::start(Behaviour::default()).await;
    let syncd = syncd(
        app,
        &[("WEBHOOK_PER_HOOK", "2"), ("WEBHOOK_TIMEOUT", "30s")],
    )
    .await;
    let (_admin, g, user) = app.seed_team().await;
    hook(
        app,
        &Auth::Owner,
        json!({"url": slow.url("/slow"), "events": ["task.created"]}),
    )
    .await;
    hook(
        app,
        &Auth::Owner,
        json!({"url": fast.url("/fast"), "events": [fast_events]}),
    )
    .await;
    (slow, fast, syncd, g, user)
}

#[tokio::test]
async fn a_slow_receiver_does_not_delay_another_hooks_deliveries() {
    let app = app().await;
    let (slow, mut fast, _syncd, g, user) =
        slow_and_fast(&app, Duration::from_secs(2), "task.created").await;
    let started = Instant::now();
    for i in 0..10 {
        app.seed_task(user.id, g, &format!("t{i}")).await;
    }
    for _ in 0..10 {
        fast.next(WAIT).await.expect("the fast hook's deliveries");
    }
    let fast_done = started.elapsed();
    // The slow hook answers 2 at a time, 2 s each: at most 2 answered yet.
    let slow_answered = slow.log().len();
    assert!(
        fast_done < Duration::from_secs(2),
        "the fast hook took {fast_done:?}"
    );
    assert!(slow_answered <= 2, "{slow_answered}");
}

#[tokio::test]
async fn a_hook_with_a_long_queue_never_hides_another_hooks_due_delivery() {
    let app = app().await;
    let (slow, mut fast, _syncd, g, user) =
        slow_and_fast(&app, Duration::from_secs(5), "task.updated").await;
    // 300 deliveries due for the slow hook, queued first.
    let titles: Vec<String> = (0..300).map(|i| format!("q{i}")).collect();
    let tasks =
        futures_util::future::join_all(titles.iter().map(|t| app.seed_task(user.id, g, t))).await;
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{}", user.id, tasks[0]),
            &Auth::Owner,
            Some(json!({"priority": 3})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let asked = Instant::now();
    let got = fast
        .next(Duration::from_secs(4))
        .await
        .expect("the other hook's delivery, long before the queue drains");
    assert_eq!(got.json()["event"], "task.updated");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        slow.log().len() <= 2,
        "the slow hook is still at its first answers"
    );
}

#[tokio::test]
async fn a_receiver_down_for_long_gets_a_bounded_queue_and_the_rest_is_counted() {
    let app = app().await;
    let _syncd = syncd(&app, &[("WEBHOOK_QUEUE_MAX", "5")]).await;
    let (_admin, g, user) = app.seed_team().await;
    // Nothing listens there: every attempt fails, every delivery waits.
    let closed = taskmaster_tests::free_port();
    let (id, _) = hook(
        &app,
        &Auth::Owner,
        json!({"url": format!("http://127.0.0.1:{closed}/h"), "events": ["task.created"]}),
    )
    .await;
    for i in 0..8 {
        app.seed_task(user.id, g, &format!("t{i}")).await;
    }
    let dropped = eventually(WAIT, || async {
        let mut redis = app.redis().await;
        let n: Option<u64> = redis::cmd("GET")
            .arg(format!("{}webhooks:dropped:{id}", app.keys.prefix()))
            .query_async(&mut redis)
            .await
            .ok()?;
        (n == Some(3)).then_some(())
    })
    .await;
    assert!(dropped.is_some(), "3 over the bound are counted");
    let tried = eventually(WAIT, || async {
        let queued = deliveries(&app, &Auth::Owner, id).await;
        let waiting = queued.iter().all(|d| {
            d["status"] == "pending"
                && d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("connect"))
        });
        (queued.len() == 5 && waiting).then_some(())
    })
    .await;
    assert!(tried.is_some(), "5 deliveries wait, each tried and failed");
}
