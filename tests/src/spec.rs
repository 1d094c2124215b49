//! Every answer the tests receive is checked against the api's OpenAPI
//! document (`taskmaster_api::routes::spec`): its status must be one the
//! operation documents, and a JSON body must validate against that
//! status's schema. [`crate::TestApp::request`] calls [`check_answer`] on
//! every answer, so every integration test is also a test of the spec.
//!
//! Requests outside the spec (unknown paths, methods a path does not
//! have: the 404 and 405 tests) are not checked.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use hyper::{HeaderMap, Method};
use serde_json::{Value, json};

/// The document, its paths as a router (the same matcher the api routes
/// with, so a path means here what it means there), and validators built
/// so far per (pattern, method, status).
struct Spec {
    doc: Value,
    paths: matchit::Router<String>,
    validators: Mutex<HashMap<(String, String, u16), Arc<jsonschema::Validator>>>,
}

static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    let doc = serde_json::to_value(taskmaster_api::routes::spec::document())
        .expect("the document serialises");
    let mut paths = matchit::Router::new();
    for pattern in doc["paths"].as_object().expect("paths").keys() {
        paths
            .insert(pattern.as_str(), pattern.clone())
            .expect("the spec's paths are distinct patterns");
    }
    Spec {
        doc,
        paths,
        validators: Mutex::new(HashMap::new()),
    }
});

/// Checks one answer against the spec; panics with what is wrong.
pub fn check_answer(method: &Method, path: &str, status: u16, headers: &HeaderMap, body: &[u8]) {
    let spec = &*SPEC;
    let path = path.split('?').next().unwrap_or(path);
    // The versioned mount answers identically (the spec's second server).
    let path = path
        .strip_prefix(taskmaster_api::routes::VERSIONED)
        .filter(|p| p.starts_with('/'))
        .unwrap_or(path);
    let Ok(matched) = spec.paths.at(path) else {
        return;
    };
    let pattern = matched.value.clone();
    let method = method.as_str().to_ascii_lowercase();
    let operation = &spec.doc["paths"][&pattern][&method];
    if !operation.is_object() {
        return;
    }
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {pattern} answered {status}, which the spec does not document: {}",
        String::from_utf8_lossy(body)
    );
    let is_json = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.get("content").is_none() {
        assert!(
            body.is_empty(),
            "{method} {pattern} {status}: the spec documents no body, the answer has one: {}",
            String::from_utf8_lossy(body)
        );
        return;
    }
    // Another media type the spec documents for this answer (an export's
    // CSV): its schema is text, nothing to check here.
    let media = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default();
    if !is_json && media != "application/json" && response["content"].get(media).is_some() {
        return;
    }
    let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
        return;
    };
    assert!(
        is_json,
        "{method} {pattern} {status}: the spec says JSON, the content type is {:?}",
        headers.get(hyper::header::CONTENT_TYPE)
    );
    let key = (pattern.clone(), method.clone(), status);
    let validator = {
        let mut validators = spec.validators.lock().unwrap_or_else(|p| p.into_inner());
        validators
            .entry(key)
            .or_insert_with(|| {
                // The operation's schema, with the components beside it so
                // that `#/components/schemas/…` resolves.
                let mut root = Value::Object(schema.clone());
                root["components"] = spec.doc["components"].clone();
                root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
                Arc::new(jsonschema::validator_for(&root).expect("the spec's schema compiles"))
            })
            .clone()
    };
    let instance: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => panic!(
            "{method} {pattern} {status}: not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        ),
    };
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {pattern} {status}: the answer does not match the spec's schema:\n{}\nanswer: {instance}",
        errors.join("\n")
    );
}

/// Checks one feed message (from `GET /ws` or `GET /events`) against the
/// spec's `FeedMessage` schema; panics with what is wrong.
pub fn check_feed_message(message: &Value) {
    static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
        let spec = &*SPEC;
        let mut root = json!({"$ref": "#/components/schemas/FeedMessage"});
        root["components"] = spec.doc["components"].clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        jsonschema::validator_for(&root).expect("the spec's schema compiles")
    });
    let errors: Vec<String> = VALIDATOR
        .iter_errors(message)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "a feed message does not match the spec's FeedMessage:\n{}\nmessage: {message}",
        errors.join("\n")
    );
}
