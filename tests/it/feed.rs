//! The live change feed (`GET /ws`, `GET /events`, `GET /changes`): every
//! write reaches exactly the observers who may read it, in log order;
//! clients resume without loss or repeat across restarts and instances;
//! trimmed positions answer 410; revoked credentials, slow consumers and
//! shutdowns close connections with their codes.

use futures_util::future::join_all;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::feed::{Ended, Handshake, WsClient};
use taskmaster_tests::{Auth, Seeded, TestApp, spawn_app, spawn_app_with};

/// The `type` of every message.
fn types(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A team to watch: the owner; admin A of group 1 with members u1 and u2;
/// admin B of group 2 with member u3.
struct World {
    a: Seeded,
    g1: u64,
    u1: Seeded,
    u2: Seeded,
    b: Seeded,
    g2: u64,
    u3: Seeded,
}

async fn world(app: &TestApp) -> World {
    let (a, g1, u1) = app.seed_team().await;
    let u2 = app.seed_user("user", &[g1]).await;
    let (b, g2, u3) = app.seed_team().await;
    World {
        a,
        g1,
        u1,
        u2,
        b,
        g2,
        u3,
    }
}

/// The observers of [`every_write_reaches_exactly_the_observers_who_may_read_it`].
const OBSERVERS: [&str; 5] = ["owner", "admin of g1", "u1", "u2", "admin of g2"];

#[tokio::test]
async fn every_write_reaches_exactly_the_observers_who_may_read_it() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let auths = [
        Auth::Owner,
        w.a.auth(),
        w.u1.auth(),
        w.u2.auth(),
        w.b.auth(),
    ];
    let mut sockets: Vec<WsClient> = Vec::new();
    for auth in &auths {
        sockets.push(app.ws("", auth).await);
    }
    // Each step: what is done, then the messages it produces in log order,
    // each with the observers who may read it.
    type Messages = Vec<(&'static str, &'static [&'static str])>;
    let g1_task: &[&str] = &["owner", "admin of g1", "u1"];
    let mut steps: Vec<(&str, Messages)> = Vec::new();
    let mut seen: Vec<Vec<Vec<String>>> = Vec::new();
    async fn observe(sockets: &mut [WsClient]) -> Vec<Vec<String>> {
        join_all(sockets.iter_mut().map(|s| s.drain()))
            .await
            .iter()
            .map(|m| types(m))
            .collect()
    }
    let call = async |method: Method, path: String, auth: &Auth, body: Option<Value>| {
        let res = app.call(method, &path, auth, body).await;
        assert!(
            res.status.is_success(),
            "{path}: {} {}",
            res.status,
            res.text()
        );
    };

    let t1 = app.seed_task(w.u1.id, w.g1, "first").await;
    steps.push(("create u1's task in g1", vec![("task_created", g1_task)]));
    seen.push(observe(&mut sockets).await);

    let path = format!("/users/{}/tasks/{t1}", w.u1.id);
    call(Method::PUT, path, &w.a.auth(), Some(json!({"priority": 1}))).await;
    steps.push(("g1's admin updates it", vec![("task_updated", g1_task)]));
    seen.push(observe(&mut sockets).await);

    let refused = app
        .call(
            Method::PUT,
            &format!("/users/{}/tasks/{t1}", w.u1.id),
            &w.u2.auth(),
            Some(json!({"priority": 3})),
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    steps.push(("u2 may not change it (refused)", vec![]));
    seen.push(observe(&mut sockets).await);

    call(
        Method::PUT,
        format!("/users/{}/tasks/{t1}/done", w.u1.id),
        &w.u1.auth(),
        None,
    )
    .await;
    steps.push(("u1 marks it done", vec![("task_updated", g1_task)]));
    seen.push(observe(&mut sockets).await);

    let t2 = app.seed_task(w.u2.id, w.g1, "second").await;
    steps.push((
        "create u2's task in g1",
        vec![("task_created", &["owner", "admin of g1", "u2"])],
    ));
    seen.push(observe(&mut sockets).await);

    let batch = json!({"task_ids": [t1, t2], "action": "update", "updates": {"priority": 2}});
    call(
        Method::POST,
        "/tasks/batch".into(),
        &w.a.auth(),
        Some(batch),
    )
    .await;
    steps.push((
        "g1's admin updates both in a batch",
        vec![
            ("task_updated", g1_task),
            ("task_updated", &["owner", "admin of g1", "u2"]),
        ],
    ));
    seen.push(observe(&mut sockets).await);

    call(
        Method::PUT,
        format!("/users/{}", w.u1.id),
        &Auth::Owner,
        Some(json!({"full_name": "Renamed"})),
    )
    .await;
    steps.push(("the owner renames u1", vec![("user_updated", g1_task)]));
    seen.push(observe(&mut sockets).await);

    call(
        Method::PUT,
        format!("/users/{}/worktimes", w.u2.id),
        &w.u2.auth(),
        Some(json!({"work_times": {"Monday": 4}})),
    )
    .await;
    steps.push((
        "u2 sets its work times",
        vec![("user_updated", &["owner", "admin of g1", "u2"])],
    ));
    seen.push(observe(&mut sockets).await);

    call(
        Method::PUT,
        format!("/groups/{}", w.g1),
        &Auth::Owner,
        Some(json!({"name": format!("g1-{}", w.g1)})),
    )
    .await;
    steps.push((
        "the owner renames g1",
        vec![("group_updated", &["owner", "admin of g1", "u1", "u2"])],
    ));
    seen.push(observe(&mut sockets).await);

    app.seed_task(w.u3.id, w.g2, "elsewhere").await;
    steps.push((
        "a task in g2",
        vec![("task_created", &["owner", "admin of g2"])],
    ));
    seen.push(observe(&mut sockets).await);

    app.seed_member(w.g1, w.u3.id).await;
    steps.push((
        "the owner adds u3 (of g2) to g1",
        vec![("user_updated", &["owner", "admin of g1", "admin of g2"])],
    ));
    seen.push(observe(&mut sockets).await);

    call(
        Method::DELETE,
        format!("/groups/{}/users/{}", w.g1, w.u2.id),
        &Auth::Owner,
        None,
    )
    .await;
    steps.push((
        "the owner removes u2 from g1, its only group: its task goes",
        vec![
            ("task_deleted", &["owner", "admin of g1", "u2"]),
            ("user_updated", &["owner", "admin of g1", "u2"]),
        ],
    ));
    seen.push(observe(&mut sockets).await);

    let g3 = app.seed_group(w.b.id).await;
    steps.push((
        "the owner makes g3 for g2's admin",
        vec![
            ("group_created", &["owner", "admin of g2"]),
            ("user_updated", &["owner", "admin of g2"]),
        ],
    ));
    seen.push(observe(&mut sockets).await);

    call(Method::DELETE, format!("/groups/{g3}"), &Auth::Owner, None).await;
    steps.push((
        "the owner deletes g3",
        vec![
            ("user_updated", &["owner", "admin of g2"]),
            ("group_deleted", &["owner", "admin of g2"]),
        ],
    ));
    seen.push(observe(&mut sockets).await);

    call(
        Method::DELETE,
        format!("/users/{}/tasks/{t1}", w.u1.id),
        &w.u1.auth(),
        None,
    )
    .await;
    steps.push(("u1 deletes its task", vec![("task_deleted", g1_task)]));
    seen.push(observe(&mut sockets).await);

    let mut failures = Vec::new();
    for ((what, messages), got) in steps.iter().zip(&seen) {
        for (i, name) in OBSERVERS.iter().enumerate() {
            let want: Vec<String> = messages
                .iter()
                .filter(|(_, who)| who.contains(name))
                .map(|(t, _)| (*t).to_owned())
                .collect();
            if got[i] != want {
                failures.push(format!(
                    "{what}: {name} received {:?}, not {want:?}",
                    got[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_message_carries_its_position_the_row_as_answered_and_who_wrote_it() {
    let app = spawn_app().await;
    let (admin, g, u) = app.seed_team().await;
    let mut ws = app.ws("", &Auth::Owner).await;
    let res = app
        .call(
            Method::POST,
            &format!("/users/{}/tasks", u.id),
            &admin.auth(),
            Some(json!({"title": "feed me", "group_id": g, "labels": ["x"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let task = res.json()["data"]["task"].clone();
    let m = ws.next().await;
    assert_eq!(m["type"], "task_created");
    assert_eq!(
        m["data"], task,
        "the row exactly as the REST answer shows it"
    );
    assert_eq!(m["actor"], admin.id.to_string());
    assert!(m["id"].as_str().is_some_and(|id| id.contains('-')), "{m}");
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/users/{}/tasks/{}", u.id, task["id"]),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let m = ws.next().await;
    assert_eq!(
        (m["type"].clone(), m["data"].clone(), m["actor"].clone()),
        (json!("task_deleted"), task["id"].clone(), json!("owner"))
    );
    // A user's message never carries its password hash.
    app.call(
        Method::PUT,
        &format!("/users/{}", u.id),
        &Auth::Owner,
        Some(json!({"password": "another1"})),
    )
    .await;
    let m = ws.next().await;
    assert_eq!(m["type"], "user_updated");
    let text = m.to_string();
    assert!(
        !text.contains("argon2") && m["data"].get("password_hash").is_none(),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_resuming_from_its_last_id_gets_every_later_entry_once_in_order_across_restarts_and_instances()
 {
    let app = spawn_app().await;
    let (_, g, u) = app.seed_team().await;
    let mut ws = app.ws("", &u.auth()).await;
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(app.seed_task(u.id, g, &format!("t{i}")).await);
    }
    let first = ws.next().await;
    let second = ws.next().await;
    ws.close().await;
    let resume = second["id"].as_str().expect("an id").to_owned();
    for i in 3..5 {
        created.push(app.seed_task(u.id, g, &format!("t{i}")).await);
    }
    assert_eq!(first["data"]["id"], created[0]);
    // The same position, on a restarted instance and on another one.
    let restarted = app.restart_same_prefix().await;
    let other = app.restart_same_prefix().await;
    app.stop().await;
    for instance in [&restarted, &other] {
        let mut ws = instance
            .ws(&format!("?resume_from={resume}"), &u.auth())
            .await;
        let got: Vec<Value> = ws.drain().await;
        let ids: Vec<Value> = got.iter().map(|m| m["data"]["id"].clone()).collect();
        assert_eq!(
            ids,
            created[2..].iter().map(|i| json!(i)).collect::<Vec<_>>(),
            "after {resume}"
        );
        let positions: Vec<&str> = got.iter().filter_map(|m| m["id"].as_str()).collect();
        let mut sorted = positions.clone();
        sorted.sort_by_key(|p| taskmaster_shared::position::Position::parse(p));
        sorted.dedup();
        assert_eq!(positions, sorted, "in log order, each once");
        // And it goes on live (the next instance gets this one too).
        let live = instance.seed_task(u.id, g, "live").await;
        assert_eq!(ws.next().await["data"]["id"], live);
        created.push(live);
        ws.close().await;
    }
}

#[tokio::test]
async fn server_sent_events_carry_ids_and_resume_after_last_event_id() {
    let app = spawn_app().await;
    let (_, g, u) = app.seed_team().await;
    let mut sse = app.sse("", &u.auth(), &[]).await;
    assert_eq!(sse.status, 200);
    let t1 = app.seed_task(u.id, g, "one").await;
    let e1 = sse.next().await;
    assert_eq!(e1.data["type"], "task_created");
    assert_eq!(e1.data["data"]["id"], t1);
    assert_eq!(
        e1.id.as_deref(),
        e1.data["id"].as_str(),
        "the event id is the position"
    );
    drop(sse);
    let t2 = app.seed_task(u.id, g, "two").await;
    let last = e1.id.expect("an id");
    let mut again = app.sse("", &u.auth(), &[("last-event-id", &last)]).await;
    assert_eq!(again.next().await.data["data"]["id"], t2);
    // A malformed Last-Event-ID is 422 naming it.
    let res = app
        .request(
            Method::GET,
            "/events",
            &[
                ("x-owner-password", taskmaster_tests::OWNER_PASSWORD),
                ("last-event-id", "yesterday"),
            ],
            "",
        )
        .await;
    res.assert_invalid("Last-Event-ID");
}

#[tokio::test]
async fn changes_pages_through_what_the_caller_may_see_and_answers_410_once_trimmed() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let start = app.call(Method::GET, "/changes", &w.u1.auth(), None).await;
    assert_eq!(start.status, StatusCode::OK);
    assert_eq!(start.json()["data"]["changes"], json!([]));
    let since = start.json()["data"]["next"]
        .as_str()
        .expect("a position")
        .to_owned();
    let mine: Vec<u64> = vec![
        app.seed_task(w.u1.id, w.g1, "a").await,
        app.seed_task(w.u2.id, w.g1, "not mine").await,
        app.seed_task(w.u1.id, w.g1, "b").await,
        app.seed_task(w.u3.id, w.g2, "elsewhere").await,
        app.seed_task(w.u1.id, w.g1, "c").await,
    ]
    .into_iter()
    .enumerate()
    .filter(|(i, _)| [0, 2, 4].contains(i))
    .map(|(_, id)| id)
    .collect();
    let mut got = Vec::new();
    let mut next = since.clone();
    for _ in 0..5 {
        let page = app
            .call(
                Method::GET,
                &format!("/changes?since={next}&limit=2"),
                &w.u1.auth(),
                None,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let data = page.json()["data"].clone();
        got.extend(
            data["changes"]
                .as_array()
                .expect("a list")
                .iter()
                .map(|m| m["data"]["id"].as_u64().expect("id")),
        );
        next = data["next"].as_str().expect("next").to_owned();
        if data["more"] == false {
            break;
        }
    }
    assert_eq!(got, mine, "u1 sees its own tasks only, each once, in order");
    let filtered = app
        .call(
            Method::GET,
            &format!("/changes?since={since}&types=user"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(filtered.json()["data"]["changes"], json!([]));
    for (query, field) in [
        ("since=soon", "since"),
        ("limit=0", "limit"),
        ("types=session", "types"),
        ("group=x", "group"),
    ] {
        app.call(
            Method::GET,
            &format!("/changes?{query}"),
            &Auth::Owner,
            None,
        )
        .await
        .assert_invalid(field);
    }
    // syncd trims the log: the old position is gone.
    let retention = taskmaster_syncd::changes::Retention {
        age: std::time::Duration::from_secs(3600),
        entries: 1,
    };
    let pool = app.syncd_redis_pool();
    let trimmed = taskmaster_syncd::changes::trim(&pool, &app.keys, retention)
        .await
        .expect("trimmed");
    assert!(trimmed >= 4, "trimmed {trimmed}");
    let gone = app
        .call(
            Method::GET,
            &format!("/changes?since={since}"),
            &w.u1.auth(),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert!(
        gone.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("read your lists again")),
        "{}",
        gone.text()
    );
    match app
        .ws_handshake(&format!("?resume_from={since}"), &w.u1.auth(), &[])
        .await
    {
        Handshake::Refused(status, _) => assert_eq!(status, 410),
        Handshake::Open(_) => panic!("resumed from a trimmed position"),
    }
    // From the newest position all is well.
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/changes?since={next}"),
            &w.u1.auth(),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_credential_closes_its_connection() {
    let app = spawn_app().await;
    let (_, g, u) = app.seed_team().await;
    // A session that logs out.
    let session = app.bearer(&u).await;
    let mut by_session = app.ws("", &session).await;
    let mut by_password = app.ws("", &u.auth()).await;
    app.seed_task(u.id, g, "seen").await;
    assert_eq!(by_session.next().await["type"], "task_created");
    let out = app.call(Method::POST, "/auth/logout", &session, None).await;
    assert!(out.status.is_success(), "{}", out.text());
    let (_, ended) = by_session.until_closed().await;
    assert!(matches!(ended, Ended::Closed(4003, _)), "{ended:?}");
    // A password change ends connections that stood on the old one.
    let res = app
        .call(
            Method::PUT,
            &format!("/users/{}", u.id),
            &Auth::Owner,
            Some(json!({"password": "changed1"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let (seen, ended) = by_password.until_closed().await;
    assert!(
        matches!(ended, Ended::Closed(4003, _)),
        "{ended:?} after {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|m| m["type"] != "task_created" || m["data"]["title"] == "seen")
    );
}

#[tokio::test]
async fn a_ticket_opens_one_websocket_once_and_a_foreign_origin_is_refused() {
    let app = spawn_app().await;
    let (_, g, u) = app.seed_team().await;
    let res = app
        .call(Method::POST, "/auth/ws-ticket", &u.auth(), None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let ticket = res.json()["data"]["ticket"]
        .as_str()
        .expect("a ticket")
        .to_owned();
    assert_eq!(res.json()["data"]["expires_in"], 30);
    let mut ws = app.ws(&format!("?ticket={ticket}"), &Auth::None).await;
    app.seed_task(u.id, g, "by ticket").await;
    assert_eq!(ws.next().await["type"], "task_created");
    for query in [
        format!("?ticket={ticket}"),
        "?ticket=nonsense".to_owned(),
        String::new(),
    ] {
        match app.ws_handshake(&query, &Auth::None, &[]).await {
            Handshake::Refused(status, body) => {
                assert_eq!(status, 401, "{query}");
                assert_eq!(body["success"], false);
            }
            Handshake::Open(_) => panic!("{query} opened a socket"),
        }
    }
    match app
        .ws_handshake("", &u.auth(), &[("origin", "https://evil.example")])
        .await
    {
        Handshake::Refused(status, _) => assert_eq!(status, 403),
        Handshake::Open(_) => panic!("a foreign page opened a socket"),
    }
}

#[tokio::test]
async fn connections_per_principal_are_capped() {
    let shared = taskmaster_tests::shared().await;
    let app = spawn_app_with(shared.redis.port, &[("FEED_MAX_PER_PRINCIPAL", "2")]).await;
    let u = app.seed_user("user", &[]).await;
    let one = app.ws("", &u.auth()).await;
    let _two = app.ws("", &u.auth()).await;
    match app.ws_handshake("", &u.auth(), &[]).await {
        Handshake::Refused(status, body) => {
            assert_eq!(status, 429);
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("FEED_MAX_PER_PRINCIPAL")),
                "{body}"
            );
        }
        Handshake::Open(_) => panic!("a third connection opened"),
    }
    let sse = app.sse("", &u.auth(), &[]).await;
    assert_eq!(sse.status, 429);
    // Another principal is not affected, and a closed one frees its place.
    let _owner = app.ws("", &Auth::Owner).await;
    one.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let _three = app.ws("", &u.auth()).await;
}

#[tokio::test]
async fn a_slow_consumer_is_dropped_while_a_fast_one_keeps_receiving() {
    let shared = taskmaster_tests::shared().await;
    let app = spawn_app_with(shared.redis.port, &[("FEED_BUFFER", "16")]).await;
    let (_, g, u) = app.seed_team().await;
    let mut tasks = Vec::new();
    for i in 0..500 {
        tasks.push(app.seed_task(u.id, g, &format!("t{i}")).await);
    }
    let mut fast = app.ws("", &Auth::Owner).await;
    let slow = app.ws("", &Auth::Owner).await.stall();
    let reader = tokio::spawn(async move {
        let mut n = 0usize;
        while let Some(m) = fast.next_within(std::time::Duration::from_secs(5)).await {
            if m["type"] == "task_updated" {
                n += 1;
            }
        }
        n
    });
    // About 20 MB of messages: more than the slow client's socket buffers.
    let long = "x".repeat(4_000);
    let rounds = 10;
    for round in 0..rounds {
        let res = app
            .call(
                Method::POST,
                "/tasks/batch",
                &Auth::Owner,
                Some(json!({"task_ids": tasks, "action": "update", "updates": {"information": format!("{round}{long}")}})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    assert_eq!(
        reader.await.expect("reader"),
        rounds * tasks.len(),
        "the fast client got every entry"
    );
    // The slow one, once it reads, finds the close that told it to resume.
    let mut slow = slow;
    let ended = loop {
        use futures_util::StreamExt;
        match tokio::time::timeout(std::time::Duration::from_secs(20), slow.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                break frame.map(|f| u16::from(f.code));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => break None,
            Err(_) => panic!("the slow client was never closed"),
        }
    };
    assert_eq!(ended, Some(4001));
    // Counted as a dropped slow consumer (the fast one closed normally
    // when its reader stopped), and neither is open any more.
    let metrics = app.scrape().await;
    assert_eq!(metrics.value("taskmaster_feed_dropped_total", &[]), 1.0);
    assert_eq!(metrics.value("taskmaster_feed_connections", &[]), 0.0);
}

#[tokio::test]
async fn a_shutdown_closes_live_connections_telling_them_to_resume() {
    let app = spawn_app().await;
    let mut ws = app.ws("", &Auth::Owner).await;
    let mut sse = app.sse("", &Auth::Owner, &[]).await;
    let stopping = tokio::spawn(app.stop());
    let (_, ended) = ws.until_closed().await;
    assert!(matches!(ended, Ended::Closed(1001, _)), "{ended:?}");
    let last = sse.next().await;
    assert_eq!(last.event.as_deref(), Some("close"));
    assert_eq!(last.data["reason"], "shutdown");
    tokio::time::timeout(std::time::Duration::from_secs(10), stopping)
        .await
        .expect("the api stopped without waiting out its grace")
        .expect("stopped");
}

#[tokio::test]
async fn rights_follow_the_log_when_a_group_changes_hands_mid_stream() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let mut admin = app.ws("", &w.a.auth()).await;
    app.seed_task(w.u1.id, w.g1, "before").await;
    assert_eq!(admin.next().await["type"], "task_created");
    // g1 goes to B: A sees the group change, then nothing more of g1.
    let res = app
        .call(
            Method::PUT,
            &format!("/groups/{}", w.g1),
            &Auth::Owner,
            Some(json!({"admin_id": w.b.id})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let got = admin.drain().await;
    assert!(types(&got).contains(&"group_updated".to_owned()), "{got:?}");
    app.seed_task(w.u1.id, w.g1, "after").await;
    assert!(
        admin
            .drain()
            .await
            .iter()
            .all(|m| m["type"] != "task_created")
    );
}

#[tokio::test]
async fn client_messages_filter_and_resume_and_bad_ones_get_an_error() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let mut ws = app.ws("", &Auth::Owner).await;
    ws.send(&json!({"types": ["task"], "group": w.g2}).to_string())
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.seed_task(w.u1.id, w.g1, "other group").await;
    let t = app.seed_task(w.u3.id, w.g2, "this group").await;
    let got = ws.drain().await;
    assert_eq!(
        got.iter()
            .map(|m| m["data"]["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(t)]
    );
    for bad in [
        "not json",
        r#"{"resume_from": "x"}"#,
        r#"{"types": ["sessions"]}"#,
        r#"{"shout": 1}"#,
    ] {
        ws.send(bad).await;
        let m = ws.next().await;
        assert_eq!(m["type"], "error", "{bad}: {m}");
    }
    // Resuming from the first entry replays under the current filter.
    let first = got[0]["id"].as_str().expect("id");
    ws.send(&json!({"resume_from": first}).to_string()).await;
    assert!(
        ws.drain().await.is_empty(),
        "nothing of g2's tasks after it"
    );
    let huge = "x".repeat(10_000);
    ws.send(&json!({"types": [huge]}).to_string()).await;
    let (_, ended) = ws.until_closed().await;
    assert!(
        matches!(ended, Ended::Closed(1009, _) | Ended::Dropped),
        "{ended:?}"
    );
}

#[tokio::test]
async fn a_restore_resets_live_feeds_and_makes_earlier_positions_gone() {
    let dir = crate::restore::backup_dir();
    let app = spawn_app().await;
    let (_syncd, _pg) = crate::restore::syncd_for(&app, &dir).await;
    let (_, g, u) = app.seed_team().await;
    let position = async || {
        app.call(Method::GET, "/changes", &Auth::Owner, None)
            .await
            .json()["data"]["next"]
            .as_str()
            .expect("a position")
            .to_owned()
    };
    let older = position().await;
    app.seed_task(u.id, g, "before").await;
    let latest = position().await;
    let mut ws = app.ws("", &u.auth()).await;
    let res = crate::restore::admin_sync(&app, "action=restore").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let (seen, ended) = ws.until_closed().await;
    assert_eq!(types(&seen), vec!["reset"], "{seen:?}");
    assert!(matches!(ended, Ended::Closed(4009, _)), "{ended:?}");
    let gone = app
        .call(
            Method::GET,
            &format!("/changes?since={older}"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::GONE, "{}", gone.text());
    // A client that had seen everything learns of the restore from the log.
    let at_tip = app
        .call(
            Method::GET,
            &format!("/changes?since={latest}"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(at_tip.status, StatusCode::OK, "{}", at_tip.text());
    let changes = at_tip.json()["data"]["changes"].clone();
    assert_eq!(types(changes.as_array().expect("a list")), vec!["reset"]);
}

#[tokio::test]
async fn syncd_trims_the_log_but_never_what_a_consumer_group_has_not_acknowledged() {
    let app = spawn_app().await;
    let (_, g, u) = app.seed_team().await;
    let mut redis = app.redis().await;
    let stream = app.keys.changes();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("audit")
        .arg("0")
        .query_async(&mut redis)
        .await
        .expect("a group");
    for i in 0..5 {
        app.seed_task(u.id, g, &format!("t{i}")).await;
    }
    let len = |redis: &mut redis::aio::MultiplexedConnection| {
        let stream = stream.clone();
        let mut redis = redis.clone();
        async move {
            let n: u64 = redis::cmd("XLEN")
                .arg(&stream)
                .query_async(&mut redis)
                .await
                .expect("xlen");
            n
        }
    };
    let all = len(&mut redis).await;
    let pool = app.syncd_redis_pool();
    let keep_none = taskmaster_syncd::changes::Retention {
        age: std::time::Duration::ZERO,
        entries: 1,
    };
    assert_eq!(
        taskmaster_syncd::changes::trim(&pool, &app.keys, keep_none)
            .await
            .expect("trim"),
        0
    );
    assert_eq!(
        len(&mut redis).await,
        all,
        "nothing the group was not given goes"
    );
    // The group reads three and acknowledges two: those two may go.
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("audit")
        .arg("c1")
        .arg("COUNT")
        .arg(3)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut redis)
        .await
        .expect("read");
    let ids: Vec<String> = match read {
        redis::Value::Array(streams) => match &streams[0] {
            redis::Value::Array(parts) => match &parts[1] {
                redis::Value::Array(entries) => entries
                    .iter()
                    .map(|e| match e {
                        redis::Value::Array(e) => {
                            redis::from_redis_value_ref::<String>(&e[0]).expect("id")
                        }
                        _ => panic!("entry"),
                    })
                    .collect(),
                _ => panic!("entries"),
            },
            _ => panic!("stream"),
        },
        _ => panic!("reply"),
    };
    let _: u64 = redis::cmd("XACK")
        .arg(&stream)
        .arg("audit")
        .arg(&ids[0])
        .arg(&ids[1])
        .query_async(&mut redis)
        .await
        .expect("ack");
    assert_eq!(
        taskmaster_syncd::changes::trim(&pool, &app.keys, keep_none)
            .await
            .expect("trim"),
        2
    );
    assert_eq!(len(&mut redis).await, all - 2);
}

#[tokio::test]
async fn a_new_client_starts_from_now_after_writes_nobody_followed() {
    let app = spawn_app().await;
    let (_, g, u) = app.seed_team().await;
    // A client comes and goes: the process then follows no one.
    let first = app.ws("", &Auth::Owner).await;
    first.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for i in 0..20 {
        app.seed_task(u.id, g, &format!("unfollowed {i}")).await;
    }
    let mut ws = app.ws("", &Auth::Owner).await;
    let live = app.seed_task(u.id, g, "followed").await;
    let got = ws.drain().await;
    let ids: Vec<Value> = got.iter().map(|m| m["data"]["id"].clone()).collect();
    assert_eq!(ids, vec![json!(live)], "only what came after it connected");
    // And a second client joining a followed process changes nothing for it.
    let mut other = app.ws("", &u.auth()).await;
    let next = app.seed_task(u.id, g, "both").await;
    assert_eq!(ws.next().await["data"]["id"], next);
    assert_eq!(other.next().await["data"]["id"], next);
}
