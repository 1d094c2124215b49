//! Self-registration (issue 19): `POST /auth/register` in each
//! `REGISTRATION` mode, with `REGISTRATION_GROUP_ID`.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use taskmaster_tests::{Auth, TestApp, TestResponse, spawn_app, spawn_app_with, unique};

async fn register(app: &TestApp, body: Value) -> TestResponse {
    app.call(Method::POST, "/auth/register", &Auth::None, Some(body))
        .await
}

fn someone(domain: &str) -> Value {
    let n = unique();
    json!({"email": format!("new{n}@{domain}"), "password": "a-good-password", "full_name": format!("New {n}")})
}

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with(taskmaster_tests::shared().await.redis.port, extra).await
}

#[tokio::test]
async fn registration_is_off_unless_configured() {
    let app = spawn_app().await;
    let res = register(&app, someone("example.com")).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(
        res.json()["error"]
            .as_str()
            .expect("error")
            .contains("disabled")
    );
}

#[tokio::test]
async fn open_registration_makes_a_plain_user_who_can_log_in_at_once() {
    let app = app_with(&[("REGISTRATION", "open")]).await;
    let body = someone("anywhere.org");
    let res = register(&app, body.clone()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let user = &res.json()["data"]["user"];
    assert_eq!(user["role"], "user");
    assert_eq!(user["group_ids"], json!([]));
    assert!(user.get("password").is_none() && user.get("pw").is_none());
    let login = app
        .call(
            Method::POST,
            "/auth/login",
            &Auth::None,
            Some(json!({"login": body["email"], "password": body["password"]})),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    // The same email again, in another case: taken.
    let mut again = someone("anywhere.org");
    again["email"] = json!(body["email"].as_str().expect("email").to_uppercase());
    assert_eq!(register(&app, again).await.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_domain_list_admits_only_emails_at_those_domains() {
    let app = app_with(&[("REGISTRATION", "domain:example.com,corp.example.org")]).await;
    // (domain, status)
    let cases = [
        ("example.com", StatusCode::CREATED),
        ("CORP.example.org", StatusCode::CREATED),
        ("sub.example.com", StatusCode::UNPROCESSABLE_ENTITY),
        ("example.com.evil.net", StatusCode::UNPROCESSABLE_ENTITY),
        ("gmail.com", StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (domain, status) in cases {
        let res = register(&app, someone(domain)).await;
        assert_eq!(res.status, status, "{domain}: {}", res.text());
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert!(
                res.json()["error"]
                    .as_str()
                    .expect("error")
                    .starts_with("email")
            );
        }
    }
}

#[tokio::test]
async fn invalid_registrations_get_422_naming_the_field() {
    let app = app_with(&[("REGISTRATION", "open")]).await;
    let good = someone("example.com");
    // (field changed, value, field named)
    let cases = [
        ("email", json!("not-an-email"), "email"),
        ("email", json!(""), "email"),
        ("email", Value::Null, "email"),
        ("password", json!("short"), "password"),
        ("password", json!("p".repeat(2_000)), "password"),
        ("full_name", json!(""), "full_name"),
        ("full_name", json!("n".repeat(300)), "full_name"),
    ];
    for (field, value, named) in cases {
        let mut body = good.clone();
        body[field] = value.clone();
        let res = register(&app, body).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value:.30}: {}",
            res.text()
        );
        let error = res.json()["error"].as_str().expect("error").to_owned();
        assert!(error.to_lowercase().contains(named), "{error}");
    }
    let wrong_type = register(&app, json!({"email": 5, "password": "x", "full_name": "y"})).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_registration_group_lets_new_users_create_tasks_at_once() {
    let base = spawn_app().await;
    let admin = base.seed_user("group_admin", &[]).await;
    let group = base.seed_group(admin.id).await;
    let app = base
        .restart_with(&[
            ("REGISTRATION", "open"),
            ("REGISTRATION_GROUP_ID", &group.to_string()),
        ])
        .await;
    let body = someone("example.com");
    let res = register(&app, body.clone()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let id = res.json()["data"]["user"]["id"].as_u64().expect("id");
    assert_eq!(res.json()["data"]["user"]["group_ids"], json!([group]));
    let auth = Auth::Basic(
        id.to_string(),
        body["password"].as_str().expect("pw").to_owned(),
    );
    let task = app
        .call(
            Method::POST,
            &format!("/users/{id}/tasks"),
            &auth,
            Some(json!({"title": "First", "group_id": group})),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.text());
    // The group's admin sees the newcomer among its members.
    let members = app
        .call(
            Method::GET,
            &format!("/groups/{group}/users"),
            &admin.auth(),
            None,
        )
        .await;
    assert!(
        members.text().contains(&format!("\"id\":{id}")),
        "{}",
        members.text()
    );

    // A group that is gone: the server is misconfigured, nothing is made.
    let broken = base
        .restart_with(&[
            ("REGISTRATION", "open"),
            ("REGISTRATION_GROUP_ID", "999999"),
        ])
        .await;
    let res = register(&broken, someone("example.com")).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !res.text().contains("REGISTRATION_GROUP_ID"),
        "a 5xx reveals nothing"
    );
}
