//! No password, token or token secret ever appears in a log line or in an
//! answer it should not (issue 19): the api binary runs as a child process
//! with every log at `debug`, goes through every account operation, good
//! and bad, and its whole output is searched.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use taskmaster_tests::{Auth, OWNER_PASSWORD, spawn_child_api, unique};

#[tokio::test]
async fn no_password_or_token_reaches_a_log_line_or_a_list() {
    let (mut api, app) = spawn_child_api(&[
        ("REGISTRATION", "open"),
        ("RUST_LOG", "debug"),
        ("LOG_FORMAT", "json"),
        ("API_WORKER_THREADS", "1"),
    ])
    .await;

    let password = format!("Pw-{}-distinctive", unique());
    let wrong = format!("Wrong-{}-distinctive", unique());
    let email = format!("secret{}@example.com", unique());
    let registered = app
        .call(
            Method::POST,
            "/auth/register",
            &Auth::None,
            Some(json!({"email": email, "password": password, "full_name": "Secret Keeper"})),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text()
    );
    let id = registered.json()["data"]["user"]["id"]
        .as_u64()
        .expect("id");
    let login = |pw: String| {
        app.call(
            Method::POST,
            "/auth/login",
            &Auth::None,
            Some(json!({"login": email, "password": pw})),
        )
    };
    assert_eq!(login(wrong.clone()).await.status, StatusCode::UNAUTHORIZED);
    let tokens = login(password.clone()).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let data = tokens.json()["data"].clone();
    let access = data["access_token"].as_str().expect("access").to_owned();
    let refresh = data["refresh_token"].as_str().expect("refresh").to_owned();
    let mine = format!("/users/{id}");
    let bearer = Auth::Bearer(access.clone());
    assert_eq!(
        app.call(Method::GET, &mine, &bearer, None).await.status,
        StatusCode::OK
    );
    let tampered = Auth::Bearer(format!("{}x", &access[..access.len() - 1]));
    assert_eq!(
        app.call(Method::GET, &mine, &tampered, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let basic = Auth::Basic(id.to_string(), password.clone());
    assert_eq!(
        app.call(Method::GET, &mine, &basic, None).await.status,
        StatusCode::OK
    );
    let wrong_basic = Auth::Basic(id.to_string(), wrong.clone());
    assert_eq!(
        app.call(Method::GET, &mine, &wrong_basic, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let refresh_body = json!({"refresh_token": refresh});
    let renewed = app
        .call(
            Method::POST,
            "/auth/refresh",
            &Auth::None,
            Some(refresh_body.clone()),
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK);
    let renewed_access = renewed.json()["data"]["access_token"]
        .as_str()
        .expect("a")
        .to_owned();
    // Reuse: logged as a warning, without the token.
    let reused = app
        .call(
            Method::POST,
            "/auth/refresh",
            &Auth::None,
            Some(refresh_body),
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    let wrong_owner = app
        .request(
            Method::GET,
            "/users",
            &[("x-owner-password", wrong.as_str())],
            "",
        )
        .await;
    assert_eq!(wrong_owner.status, StatusCode::UNAUTHORIZED);
    // A personal API token: made, used, used read-only for a write,
    // listed, revoked.
    let made = app
        .call(
            Method::POST,
            "/auth/tokens",
            &basic,
            Some(json!({"name": "script", "read_only": true})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let personal = made.json()["data"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let personal_id = made.json()["data"]["api_token"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let by_token = Auth::Bearer(personal.clone());
    assert_eq!(
        app.call(Method::GET, &mine, &by_token, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &mine,
            &by_token,
            Some(json!({"full_name": "x"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let token_list = app
        .call(Method::GET, "/auth/tokens", &basic, None)
        .await
        .text();
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/auth/tokens/{personal_id}"),
            &basic,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    // The owner's list of users and the user's own record: no secrets.
    let listed = app
        .call(Method::GET, "/users", &Auth::Owner, None)
        .await
        .text();
    let me = app.call(Method::GET, "/auth/me", &basic, None).await.text();

    api.signal(libc::SIGTERM);
    assert_eq!(api.wait_for_exit(Duration::from_secs(15)).await, Some(0));
    let logs = api.output();
    assert!(
        logs.contains("refresh token was presented again")
            && logs.contains("wrong X-Owner-Password")
            && logs.contains("API token created")
            && logs.contains("API token revoked"),
        "the logs at debug say what happened:\n{logs}"
    );
    let secret_of = |token: &str| token.rsplit('.').next().expect("secret").to_owned();
    let secrets = [
        ("the password", password.clone()),
        ("the wrong password", wrong.clone()),
        ("the owner password", OWNER_PASSWORD.to_owned()),
        ("the access token's secret", secret_of(&access)),
        ("the refresh token's secret", secret_of(&refresh)),
        (
            "the renewed access token's secret",
            secret_of(&renewed_access),
        ),
        ("the personal token's secret", secret_of(&personal)),
    ];
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "{what} is in the logs");
        for (answer, text) in [
            ("the user list", &listed),
            ("/auth/me", &me),
            ("the token list", &token_list),
        ] {
            assert!(!text.contains(secret.as_str()), "{what} is in {answer}");
        }
    }
}
