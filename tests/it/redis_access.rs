//! Redis access: the api and syncd connect as ACL users that can do only
//! what they need, and syncd acts only on signed control requests (issue
//! 17 item 10). The whole suite runs with those users (see the harness's
//! `servers::test_acl`), which proves their rights suffice; this file
//! proves they are no wider.

use std::time::Duration;

use futures_util::StreamExt;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, RedisServer, TestApp, shared, spawn_app};

use crate::admin::app_syncd_env_with;

async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// The error code Redis answers `cmd` with (`None`: it was allowed).
async fn refusal(conn: &mut redis::aio::MultiplexedConnection, cmd: &redis::Cmd) -> Option<String> {
    match cmd.query_async::<redis::Value>(conn).await {
        Ok(_) => None,
        Err(e) => Some(e.code().unwrap_or("?").to_owned()),
    }
}

#[tokio::test]
async fn the_api_and_syncd_users_may_not_touch_other_keys_or_run_dangerous_commands() {
    let app = spawn_app().await;
    let port = shared().await.redis.port;
    let prefix = app.keys.prefix();
    for url in [RedisServer::api_url(port), RedisServer::syncd_url(port)] {
        let mut conn = connect(&url).await;
        let own = format!("{prefix}probe");
        assert_eq!(
            refusal(&mut conn, redis::cmd("SET").arg(&own).arg("1")).await,
            None,
            "{url}"
        );
        assert_eq!(
            refusal(&mut conn, redis::cmd("INFO").arg("server")).await,
            None,
            "{url}"
        );
        let denied: [redis::Cmd; 9] = [
            redis::cmd("GET").arg("other-app:secret").clone(),
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("appendonly")
                .arg("no")
                .clone(),
            redis::cmd("FLUSHALL").clone(),
            redis::cmd("KEYS").arg("*").clone(),
            redis::cmd("SCRIPT").arg("FLUSH").clone(),
            redis::cmd("DEBUG").arg("SLEEP").arg("0").clone(),
            redis::cmd("SHUTDOWN").arg("NOSAVE").clone(),
            redis::cmd("PUBLISH")
                .arg("other-app:control")
                .arg("{}")
                .clone(),
            redis::cmd("EVAL")
                .arg("return redis.call('GET', 'other-app:x')")
                .arg(0)
                .clone(),
        ];
        for cmd in &denied {
            let code = refusal(&mut conn, cmd).await;
            assert!(
                code.as_deref()
                    .is_some_and(|c| c.contains("NOPERM") || c.contains("ERR")),
                "{url}: {:?} was allowed",
                String::from_utf8_lossy(&cmd.get_packed_command())
            );
        }
    }
    // Redis is still up and whole.
    let res = app.call(Method::GET, "/users", &Auth::Owner, None).await;
    assert_eq!(res.status, StatusCode::OK);
}

/// Publishes `request` on the app's control channel and waits for its
/// answer.
async fn publish_control(app: &TestApp, request: Value) -> Value {
    let reply_to = request["reply_to"].as_str().expect("reply_to").to_owned();
    let client = redis::Client::open(app.redis_url.as_str()).expect("url");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub.subscribe(&reply_to).await.expect("subscribe");
    let mut conn = app.redis().await;
    let receivers: u64 = redis::cmd("PUBLISH")
        .arg(app.keys.control_channel())
        .arg(request.to_string())
        .query_async(&mut conn)
        .await
        .expect("publish");
    assert!(receivers > 0, "syncd listens");
    let message = tokio::time::timeout(Duration::from_secs(10), pubsub.on_message().next())
        .await
        .expect("an answer within 10 s")
        .expect("a message");
    let payload: String = message.get_payload().expect("text");
    serde_json::from_str(&payload).expect("json")
}

#[tokio::test]
async fn syncd_refuses_control_requests_that_are_unsigned_badly_signed_or_stale() {
    let (app, _syncd, _pg, _env) = app_syncd_env_with(&[]).await;
    let user = app.seed_user("user", &[]).await;
    let reply = |id: &str| app.keys.control_reply_channel(id);
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (
            "unsigned",
            json!({"id": "unsigned", "action": "restore", "args": {"discard_pending": true}, "reply_to": reply("unsigned")}),
        ),
        (
            "forged",
            json!({"id": "forged", "action": "restore", "reply_to": reply("forged"), "issued_at": now, "sig": "00".repeat(32)}),
        ),
        ("stale", {
            let mut old = serde_json::to_value(taskmaster_shared::control::ControlRequest::signed(
                "stale".into(),
                taskmaster_shared::control::Action::Force,
                reply("stale"),
                taskmaster_shared::config::DEFAULT_CONTROL_SECRET.as_bytes(),
            ))
            .expect("json");
            old["issued_at"] = json!(now - 3600);
            old
        }),
    ];
    for (name, request) in cases {
        let answer = publish_control(&app, request).await;
        assert_eq!(answer["ok"], false, "{name}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.contains("refused")),
            "{name}: {answer}"
        );
    }
    // Nothing was restored or discarded: the user is still there, and
    // signed requests (the api's) still work.
    let res = app
        .call(
            Method::GET,
            &format!("/users/{}", user.id),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}
