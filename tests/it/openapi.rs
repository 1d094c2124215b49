//! The OpenAPI document: served to anyone, equal to the router, and
//! strict enough to catch a wrong answer (every test's answers are checked
//! against it by the harness, see `taskmaster_tests::spec`).

use hyper::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use taskmaster_tests::{OWNER_PASSWORD, spawn_app};

#[tokio::test]
async fn the_spec_is_served_to_anyone_as_openapi_3_1() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let doc = res.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let built = serde_json::to_value(taskmaster_api::routes::spec::document()).expect("json");
    assert_eq!(doc, built, "served from the same document");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["owner_password"]["name"], "X-Owner-Password");
    assert_eq!(schemes["basic"]["scheme"], "basic");
}

/// A path of the spec with every `{param}` filled in.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with('{') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_method_the_spec_names_is_routed_and_every_other_is_405() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.json();
    let paths = doc["paths"].as_object().expect("paths");
    let owner = [
        ("x-owner-password", OWNER_PASSWORD),
        ("content-type", "application/json"),
    ];
    for (pattern, item) in paths
        .iter()
        .flat_map(|p| ["", "/api/v1"].map(|mount| (mount, p)))
        .map(|(mount, (pattern, item))| (format!("{mount}{pattern}"), item))
    {
        let path = concrete(&pattern);
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            let named = item[method.as_str().to_ascii_lowercase()].is_object();
            // `?action=status`: a sync request that answers without a daemon.
            // An event stream never ends: a bad position is answered at once.
            let target = if pattern == "/admin/sync" {
                format!("{path}?action=nuke")
            } else if pattern.ends_with("/events") {
                format!("{path}?since=now")
            } else {
                path.clone()
            };
            let res = app.request(method.clone(), &target, &owner, "{}").await;
            let fallback =
                res.status == StatusCode::NOT_FOUND && res.json()["error"] == "Not found";
            if named {
                assert!(
                    res.status != StatusCode::METHOD_NOT_ALLOWED && !fallback,
                    "{method} {pattern} is in the spec but not routed: {} {}",
                    res.status,
                    res.text()
                );
            } else {
                assert_eq!(
                    res.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {pattern} is routed but not in the spec: {}",
                    res.text()
                );
            }
        }
    }
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("value"));
    headers
}

/// Whether the harness's check refuses the answer.
fn refused(method: Method, path: &str, status: u16, body: &Value) -> bool {
    let body = body.to_string();
    std::panic::catch_unwind(|| {
        taskmaster_tests::spec::check_answer(
            &method,
            path,
            status,
            &json_headers(),
            body.as_bytes(),
        )
    })
    .is_err()
}

#[test]
fn the_answer_check_refuses_wrong_shapes_and_undocumented_statuses() {
    let user = serde_json::json!({
        "id": 3, "full_name": "Ann", "role": "user", "group_ids": [], "number": "",
        "email": "ann@example.com", "work_times": {}, "active": true, "created_at": "t", "updated_at": "t"
    });
    let ok = serde_json::json!({"success": true, "data": user});
    assert!(
        !refused(Method::GET, "/users/3", 200, &ok),
        "a right answer passes"
    );
    let mut no_email = ok.clone();
    no_email["data"]
        .as_object_mut()
        .expect("object")
        .remove("email");
    let mut bad_role = ok.clone();
    bad_role["data"]["role"] = "admin".into();
    let mut bad_hours = ok.clone();
    bad_hours["data"]["work_times"] = serde_json::json!({"Funday": 8});
    let unwrapped = user.clone();
    for (name, body) in [
        ("no email", &no_email),
        ("bad role", &bad_role),
        ("bad day", &bad_hours),
        ("no envelope", &unwrapped),
    ] {
        assert!(refused(Method::GET, "/users/3", 200, body), "{name} passed");
    }
    let error = serde_json::json!({"success": false, "error": "x"});
    assert!(!refused(Method::GET, "/users/3", 404, &error));
    assert!(
        refused(Method::GET, "/users/3", 409, &error),
        "409 is not documented there"
    );
    assert!(refused(
        Method::GET,
        "/users/3",
        404,
        &serde_json::json!({"error": "x"})
    ));
}

#[tokio::test]
async fn the_versioned_mount_answers_exactly_as_the_reference_paths_do() {
    let app = spawn_app().await;
    let owner = [("x-owner-password", OWNER_PASSWORD)];
    let user = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(user.id).await;
    // A write through the versioned mount is seen through the plain one.
    let body = serde_json::json!({"title": "pinned", "group_id": g}).to_string();
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/users/{}/tasks", user.id),
            &owner,
            body,
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    for path in [
        format!("/users/{}", user.id),
        format!("/users/{}/tasks", user.id),
        format!("/groups/{g}"),
        "/tasks/stats".to_owned(),
        "/users/999999".to_owned(),
        "/openapi.json".to_owned(),
    ] {
        let plain = app.request(Method::GET, &path, &owner, "").await;
        let versioned = app
            .request(Method::GET, &format!("/api/v1{path}"), &owner, "")
            .await;
        assert_eq!(plain.status, versioned.status, "{path}");
        assert_eq!(plain.body, versioned.body, "{path}");
    }
    let doc = app.get("/openapi.json").await.json();
    assert_eq!(doc["servers"][1]["url"], "/api/v1");
    // Nothing else is mounted.
    let res = app.request(Method::GET, "/api/v2/users", &owner, "").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_by_the_api_itself() {
    let app = spawn_app().await;
    let res = app.get("/docs").await;
    assert!(res.status.is_redirection(), "{}", res.status);
    assert_eq!(res.header("location"), Some("/docs/"));
    let page = app.get("/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and style the page loads is the api's own.
    for attr in ["src=\"", "href=\""] {
        for link in html.split(attr).skip(1) {
            let link = link.split('"').next().unwrap_or_default();
            assert!(!link.contains("//"), "{link} is not served by the api");
            let asset = app
                .get(&format!("/docs/{}", link.trim_start_matches("./")))
                .await;
            assert_eq!(asset.status, StatusCode::OK, "{link}");
        }
    }
    let init = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(init.status, StatusCode::OK);
    assert!(init.text().contains("/openapi.json"), "{}", init.text());
}

#[test]
fn every_example_in_the_spec_matches_its_own_schema() {
    let doc = serde_json::to_value(taskmaster_api::routes::spec::document()).expect("json");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut checked = 0;
    for (name, schema) in schemas {
        let Some(example) = schema.get("example") else {
            continue;
        };
        let mut root = schema.clone();
        root["components"] = doc["components"].clone();
        let validator = jsonschema::validator_for(&root).expect("compiles");
        let errors: Vec<String> = validator
            .iter_errors(example)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}'s example: {errors:?}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} examples");
}
