//! Request parsing at the edge: JSON bodies and path ids.
//!
//! Bodies are read whole (bounded by the 1 MiB limit), parsed as JSON, and
//! deserialised with the failing field named in the error. Like the
//! reference system, object keys match case-insensitively (`"Title"` is
//! `"title"`) and unknown fields are ignored. An empty or malformed body is
//! 400 `Invalid JSON: …`; a JSON value of the wrong type is 400 naming the
//! field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use taskmaster_shared::domain::{FieldError, GroupId, TaskId, UserId, parse_id};

use crate::error::ApiError;
use crate::fold::Folding;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(crate::middleware::BODY_LIMIT)
            } else {
                ApiError::BadRequest(format!("Invalid request body: {}", rejection.body_text()))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body into `T` (see the module docs for the rules).
///
/// Most bodies take one streaming pass ([`crate::fold`]); a body that pass
/// gives up on is parsed again the careful way, which decides and names
/// what is wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    if let Ok(value) = T::deserialize(Folding(&mut de))
        && de.end().is_ok()
    {
        return Ok(value);
    }
    parse_json_carefully(bytes)
}

/// Parses a JSON body into `T` through a `Value` with its keys folded:
/// duplicate keys are settled as the module docs say, and an error names
/// the field.
fn parse_json_carefully<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("Invalid JSON: EOF".into()));
    }
    let mut value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON: {e}")))?;
    lowercase_keys(&mut value);
    // Through the same adapter as the fast path, for its rule that a
    // struct is read from an object only (the keys are folded already).
    serde_path_to_error::deserialize(Folding(value)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::BadRequest(format!("Invalid JSON: {inner}"))
        } else if path == "password" {
            // serde quotes the value it refused; a password (even a
            // mistyped one) is not repeated back, to land in a client's log.
            ApiError::BadRequest("Invalid JSON: password: invalid type, expected a string".into())
        } else {
            ApiError::BadRequest(format!("Invalid JSON: {path}: {inner}"))
        }
    })
}

/// Folds the field names of the request object (and of a batch's
/// `updates`) to lower case; an exact lower-case key wins over a
/// differently cased duplicate. Values, such as the weekday keys of
/// `work_times`, are left alone so their own rules see them as sent.
fn lowercase_keys(value: &mut Value) {
    if let Value::Object(map) = value {
        fold(map);
        if let Some(Value::Object(updates)) = map.get_mut("updates") {
            fold(updates);
        }
    }
}

fn fold(map: &mut Map<String, Value>) {
    if !map
        .keys()
        .any(|k| k.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return;
    }
    let old = std::mem::take(map);
    let mut others = Vec::new();
    for (k, v) in old {
        if k.bytes().any(|b| b.is_ascii_uppercase()) {
            others.push((k.to_ascii_lowercase(), v));
        } else {
            map.insert(k, v);
        }
    }
    for (k, v) in others {
        map.entry(k).or_insert(v);
    }
}

/// The `q` of a search: required and not blank (400 otherwise). Returns
/// it as given and lower-cased for matching.
pub fn search_query(
    query: &std::collections::HashMap<String, String>,
) -> Result<(String, String), ApiError> {
    match query.get("q") {
        Some(q) if !q.trim().is_empty() => Ok((q.clone(), q.to_lowercase())),
        _ => Err(ApiError::BadRequest(
            "Query parameter 'q' is required".into(),
        )),
    }
}

/// A `true`/`false` query parameter, `None` when absent (400 otherwise).
pub fn flag(
    query: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<Option<bool>, ApiError> {
    match query.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::BadRequest(format!(
            "Query parameter '{name}' must be true or false"
        ))),
    }
}

/// Parses a path id; `what` names it in the 400 message (`Invalid user ID`).
fn path_id(raw: &str, what: &str) -> Result<u64, ApiError> {
    parse_id(raw).ok_or_else(|| ApiError::BadRequest(format!("Invalid {what} ID")))
}

/// A user id from the path (400 `Invalid user ID` otherwise).
pub fn user_id(raw: &str) -> Result<UserId, ApiError> {
    path_id(raw, "user").map(UserId)
}

/// A group id from the path (400 `Invalid group ID` otherwise).
pub fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    path_id(raw, "group").map(GroupId)
}

/// A task id from the path (400 `Invalid task ID` otherwise).
pub fn task_id(raw: &str) -> Result<TaskId, ApiError> {
    path_id(raw, "task").map(TaskId)
}

/// A positive id from a body field (422 naming the field otherwise).
pub fn body_id(field: &'static str, v: i64) -> Result<u64, FieldError> {
    u64::try_from(v)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| FieldError::new(field, format!("{v} is not a valid id")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Body {
        title: Option<String>,
        priority: Option<i64>,
    }

    #[test]
    fn keys_match_case_insensitively_and_unknown_fields_are_ignored() {
        let b: Body = parse_json(br#"{"Title":"a","PRIORITY":2,"extra":1}"#).expect("valid");
        assert_eq!(b.title.as_deref(), Some("a"));
        assert_eq!(b.priority, Some(2));
        let b: Body = parse_json(br#"{"Title":"upper","title":"exact"}"#).expect("valid");
        assert_eq!(b.title.as_deref(), Some("exact"));
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"priority":"1"}"#).expect_err("wrong type");
        assert!(
            matches!(&e, ApiError::BadRequest(m) if m.contains("priority")),
            "{e}"
        );
        let e = parse_json::<Body>(b"").expect_err("empty");
        assert!(
            matches!(&e, ApiError::BadRequest(m) if m == "Invalid JSON: EOF"),
            "{e}"
        );
        let e = parse_json::<Body>(b"{").expect_err("truncated");
        assert!(
            matches!(&e, ApiError::BadRequest(m) if m.starts_with("Invalid JSON")),
            "{e}"
        );
        let e = parse_json::<Body>(b"[1]").expect_err("not an object");
        assert!(matches!(&e, ApiError::BadRequest(_)), "{e}");
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Changes {
        title: Option<String>,
        status: Option<bool>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Wide {
        title: Option<String>,
        priority: Option<i64>,
        ids: Option<Vec<i64>>,
        work_times: Option<Value>,
        updates: Option<Changes>,
    }

    fn one_pass(body: &[u8]) -> Option<Wide> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let value = Wide::deserialize(Folding(&mut de)).ok()?;
        de.end().ok().map(|()| value)
    }

    /// Whatever the one-pass reading accepts, it reads as the careful one
    /// does; what it gives up on, the careful one decides.
    #[test]
    fn the_one_pass_reading_agrees_with_the_careful_one() {
        let fast: &[&str] = &[
            r#"{"title":"a","priority":2}"#,
            r#"{"Title":"a","PRIORITY":3,"Ids":[1,2]}"#,
            r#"  {"title":"\u00e9\ud83d\ude00 \"q\""}  "#,
            r#"{"work_times":{"Monday":8,"TUESDAY":{"X":1}}}"#,
            r#"{"Updates":{"Title":"x","STATUS":true},"title":"t"}"#,
            r#"{"updates":null,"priority":null}"#,
            r#"{"extra":{"Title":1},"Other":[{"A":1}],"title":"t"}"#,
            r#"{"TİTLE":"not ascii","Ünï":1}"#,
            r#"{}"#,
        ];
        let slow: &[&str] = &[
            r#"{"Title":"upper","title":"exact"}"#,
            r#"{"title":"exact","Title":"upper"}"#,
            r#"{"TITLE":"first","Title":"second"}"#,
            r#"{"title":"a","title":"b"}"#,
            r#"{"updates":{"Title":"x","title":"y"}}"#,
            r#"{"priority":"1"}"#,
            r#"{"title":"a"} trailing"#,
            r#"{"title":"a""#,
            r#"[1]"#,
            "",
            r#"{"priority":1.5}"#,
            r#"{"updates":"x"}"#,
        ];
        for body in fast.iter().chain(slow) {
            let careful = parse_json_carefully::<Wide>(body.as_bytes()).map_err(|e| e.to_string());
            let either = parse_json::<Wide>(body.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(either, careful, "{body}");
            let quick = one_pass(body.as_bytes());
            if fast.contains(body) {
                assert_eq!(quick.as_ref(), careful.as_ref().ok(), "{body}");
            } else {
                assert!(quick.is_none(), "the one pass should give up on {body}");
            }
        }
        let nested =
            one_pass(br#"{"Updates":{"Title":"x"},"work_times":{"Monday":8}}"#).expect("one pass");
        assert_eq!(nested.updates.and_then(|u| u.title).as_deref(), Some("x"));
        assert_eq!(nested.work_times, Some(serde_json::json!({"Monday": 8})));
    }

    #[test]
    fn path_ids_must_be_positive_integers() {
        assert_eq!(path_id("12", "user").expect("valid"), 12);
        let e = path_id("abc", "user").expect_err("invalid");
        assert!(matches!(&e, ApiError::BadRequest(m) if m == "Invalid user ID"));
        assert!(path_id("0", "task").is_err());
        assert!(path_id("-3", "task").is_err());
    }
}
