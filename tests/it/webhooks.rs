//! `/webhooks`: who registers which hooks, what a hook's URL, events and
//! secret may be, and that hooks are durable and audited without their
//! secret.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp, shared, spawn_app, spawn_app_with};

use crate::restore::{admin_sync, backup_dir, syncd_for};

/// A public address (documentation-free: no DNS needed in the tests).
const PUBLIC: &str = "https://93.184.216.34/hook";

async fn create(app: &TestApp, auth: &Auth, body: Value) -> (StatusCode, Value) {
    let res = app.call(Method::POST, "/webhooks", auth, Some(body)).await;
    let status = res.status;
    (status, res.json())
}

#[tokio::test]
async fn the_owner_and_group_admins_each_manage_only_their_own_hooks() {
    let dir = backup_dir();
    let app = spawn_app().await;
    let (_syncd, pg) = syncd_for(&app, &dir).await;
    let (admin, g, user) = app.seed_team().await;
    let (_other_admin, g2, _) = app.seed_team().await;

    let (status, global) = create(
        &app,
        &Auth::Owner,
        json!({"url": PUBLIC, "events": ["task.*", "user.deleted"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{global}");
    let secret = global["data"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(secret.len(), 43);
    let global_id = global["data"]["webhook"]["id"].as_u64().expect("id");
    assert_eq!(global["data"]["webhook"]["group_id"], Value::Null);
    assert_eq!(
        global["data"]["webhook"]["events"],
        json!(["task.*", "user.deleted"])
    );
    assert!(global["data"]["webhook"].get("secret").is_none());

    let given = "a-secret-the-admin-chose";
    let (status, mine) = create(
        &app,
        &admin.auth(),
        json!({
            "url": PUBLIC, "events": ["task.created"], "group_id": g, "secret": given
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["data"]["secret"], given);
    let mine_id = mine["data"]["webhook"]["id"].as_u64().expect("id");
    assert_eq!(mine["data"]["webhook"]["created_by"], admin.id);

    // A group admin: only for a group it administers; a user: never.
    let refused = [
        (
            admin.auth(),
            json!({"url": PUBLIC, "events": ["task.*"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            admin.auth(),
            json!({"url": PUBLIC, "events": ["task.*"], "group_id": g2}),
            StatusCode::FORBIDDEN,
        ),
        (
            admin.auth(),
            json!({"url": PUBLIC, "events": ["task.*"], "group_id": 999_999}),
            StatusCode::NOT_FOUND,
        ),
        (
            user.auth(),
            json!({"url": PUBLIC, "events": ["task.*"], "group_id": g}),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (auth, body, want) in refused {
        let (status, answer) = create(&app, &auth, body.clone()).await;
        assert_eq!(status, want, "{body}: {answer}");
    }

    let listed = |auth: Auth| {
        let (app, secret) = (&app, &secret);
        async move {
            let res = app.call(Method::GET, "/webhooks", &auth, None).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text());
            assert!(!res.text().contains(secret.as_str()) && !res.text().contains(given));
            res.json()["data"]["webhooks"]
                .as_array()
                .expect("webhooks")
                .iter()
                .map(|w| w["id"].as_u64().expect("id"))
                .collect::<Vec<u64>>()
        }
    };
    assert_eq!(listed(Auth::Owner).await, [global_id, mine_id]);
    assert_eq!(listed(admin.auth()).await, [mine_id]);
    assert_eq!(
        app.call(Method::GET, "/webhooks", &user.auth(), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let other = app
        .call(
            Method::GET,
            &format!("/webhooks/{global_id}"),
            &admin.auth(),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text());
    let other = app
        .call(
            Method::PUT,
            &format!("/webhooks/{global_id}"),
            &admin.auth(),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text());

    // Changes, the secret rotated: audited, the secret never shown.
    let rotated = "a-brand-new-secret-value";
    let res = app
        .call(
            Method::PUT,
            &format!("/webhooks/{mine_id}"),
            &admin.auth(),
            Some(json!({
                "active": false, "events": ["task.created", "task.deleted"], "secret": rotated
            })),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["data"]["webhook"]["active"], false);
    let audit = app
        .call(
            Method::GET,
            &format!("/admin/audit?entity=webhook&id={mine_id}"),
            &Auth::Owner,
            None,
        )
        .await;
    let text = audit.text();
    assert!(!text.contains(given) && !text.contains(rotated), "{text}");
    let records = audit.json()["data"]["records"].clone();
    assert_eq!(records[0]["action"], "updated", "{records}");
    assert_eq!(
        records[0]["changes"],
        json!({
            "active": [true, false],
            "events": [["task.created"], ["task.created", "task.deleted"]],
            "secret": "changed"
        })
    );
    assert_eq!(records[1]["action"], "created");
    assert_eq!(records[1]["changes"]["url"], PUBLIC);

    // Durable: written behind with the secret the deliveries need.
    assert_eq!(
        admin_sync(&app, "action=force").await.status,
        StatusCode::OK
    );
    let row = pg
        .query_one(
            "SELECT secret, active, group_id FROM webhooks WHERE id = $1",
            &[&(mine_id as i64)],
        )
        .await
        .expect("the hook's row");
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, bool>(1),
            row.get::<_, Option<i64>>(2)
        ),
        (rotated.to_owned(), false, Some(g as i64))
    );

    // Deleted alone, or with its group.
    let res = app
        .call(
            Method::DELETE,
            &format!("/webhooks/{global_id}"),
            &Auth::Owner,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/webhooks/{global_id}"),
            &Auth::Owner,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let res = app
        .call(Method::DELETE, &format!("/groups/{g}"), &Auth::Owner, None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(listed(Auth::Owner).await, Vec::<u64>::new());
    assert_eq!(
        admin_sync(&app, "action=force").await.status,
        StatusCode::OK
    );
    let left: i64 = pg
        .query_one("SELECT count(*) FROM webhooks", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_hook_url_inside_the_network_is_refused_unless_its_host_is_allowed() {
    let app = spawn_app().await;
    let table = [
        ("ftp://93.184.216.34/h", "url"),
        ("https://user:pw@93.184.216.34/h", "url"),
        ("not a url", "url"),
        ("http://127.0.0.1:9000/h", "url"),
        ("http://localhost:9000/h", "url"),
        ("http://10.0.0.8/h", "url"),
        ("http://192.168.1.20/h", "url"),
        ("http://169.254.169.254/latest/meta-data/", "url"),
        ("http://[::1]/h", "url"),
        ("http://[fd00:ec2::254]/h", "url"),
        ("http://[::ffff:127.0.0.1]/h", "url"),
    ];
    for (url, field) in table {
        let res = app
            .call(
                Method::POST,
                "/webhooks",
                &Auth::Owner,
                Some(json!({"url": url, "events": ["task.*"]})),
            )
            .await;
        res.assert_invalid(field);
    }
    let long = format!("https://93.184.216.34/{}", "a".repeat(2100));
    let bodies = [
        (json!({"url": long, "events": ["task.*"]}), "url"),
        (json!({"url": PUBLIC, "events": []}), "events"),
        (json!({"url": PUBLIC, "events": ["task.moved"]}), "events"),
        (
            json!({"url": PUBLIC, "events": ["task.*"], "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": PUBLIC, "events": ["task.*"], "group_id": -3}),
            "group_id",
        ),
    ];
    for (body, field) in bodies {
        app.call(Method::POST, "/webhooks", &Auth::Owner, Some(body))
            .await
            .assert_invalid(field);
    }
    let res = app
        .request(
            Method::POST,
            "/webhooks",
            &[
                ("x-owner-password", taskmaster_tests::OWNER_PASSWORD),
                ("content-type", "application/json"),
            ],
            "{\"url\":",
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());

    // A receiver on this machine, named by the operator.
    let allowed = spawn_app_with(
        shared().await.redis.port,
        &[("WEBHOOK_ALLOW_HOSTS", "127.0.0.1,localhost")],
    )
    .await;
    for url in ["http://127.0.0.1:9000/h", "http://localhost:9000/h"] {
        let res = allowed
            .call(
                Method::POST,
                "/webhooks",
                &Auth::Owner,
                Some(json!({"url": url, "events": ["task.*"]})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{url}: {}", res.text());
    }
    let res = allowed
        .call(
            Method::POST,
            "/webhooks",
            &Auth::Owner,
            Some(json!({"url": "http://10.0.0.8/h", "events": ["task.*"]})),
        )
        .await;
    res.assert_invalid("url");
}

#[tokio::test]
async fn a_flood_of_hooks_stops_at_the_bound_and_hostile_urls_are_stored_harmless() {
    let app = spawn_app().await;
    let (admin, g, _user) = app.seed_team().await;
    let auth = admin.auth();
    let burst = futures_util::future::join_all((0..25).map(|i| {
        app.call(
            Method::POST,
            "/webhooks",
            &auth,
            Some(json!({"url": format!("{PUBLIC}/{i}"), "events": ["task.*"], "group_id": g})),
        )
    }))
    .await;
    let made = burst
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused = burst
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (made, refused),
        (20, 5),
        "at most 20 per group, all or nothing per request"
    );
    // A URL cannot smuggle a header or a second request: the parser drops
    // tabs and newlines and the stored URL is the parsed one.
    let (status, answer) = create(
        &app,
        &Auth::Owner,
        json!({"url": "https://93.184.216.34/a\r\nX-Injected: 1\t", "events": ["task.*"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let url = answer["data"]["webhook"]["url"].as_str().expect("url");
    assert!(
        !url.contains('\n') && !url.contains('\r') && !url.contains(' '),
        "{url}"
    );
    let (status, answer) = create(
        &app,
        &Auth::Owner,
        json!({"url": "https://ex\u{0430}mple.com/h", "events": ["task.*"]}),
    )
    .await;
    // An internationalised name is stored as its ASCII (punycode) form.
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(
        answer["data"]["webhook"]["url"]
            .as_str()
            .is_some_and(|u| u.contains("xn--")),
        "{answer}"
    );
}
