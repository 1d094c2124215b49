//! Entity tags: every `200` JSON answer to a `GET` carries `ETag`, a hash
//! of its body, and a `GET` whose `If-None-Match` names it is answered
//! `304 Not Modified` with no body (a client polling a task, a list page
//! or the statistics moves no data while nothing changed).
//!
//! The tag is the xxh3-64 hash of the body's bytes, so it changes exactly
//! when the answer does, whatever changed it, and every api instance gives
//! the same tag for the same answer. `If-Match` on writes compares the same
//! tag ([`check_if_match`]), and the write script then holds the row to
//! what was read.

use axum::body::{Body, HttpBody};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

/// The tag of an answer body: `"` + 16 hex digits + `"`.
pub fn of(body: &[u8]) -> String {
    format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(body))
}

/// Whether a list of tags (`If-None-Match`, `If-Match`: `"a", W/"b"` or
/// `*`) names `tag`. Weak tags compare by their opaque part, as
/// `If-None-Match` does.
pub fn listed(value: &HeaderValue, tag: &str) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    text.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// A conditional write's check before its script: `Ok(false)` without
/// `If-Match`; `Ok(true)` when it names the tag of `answer` (the row's
/// answer to a GET, as read now), and the write then holds the row to
/// what was read; 412 otherwise.
pub fn check_if_match(headers: &HeaderMap, answer: &[u8]) -> Result<bool, crate::error::ApiError> {
    let Some(wanted) = headers.get(header::IF_MATCH) else {
        return Ok(false);
    };
    if listed(wanted, &of(answer)) {
        Ok(true)
    } else {
        Err(crate::error::ApiError::PreconditionFailed(
            "The row changed since the tag `If-Match` names: read it again".into(),
        ))
    }
}

/// The request's `If-None-Match`, when its answer may carry a tag.
pub fn condition(method: &Method, headers: &HeaderMap) -> Option<Option<HeaderValue>> {
    (method == Method::GET).then(|| headers.get(header::IF_NONE_MATCH).cloned())
}

/// Tags a `200` JSON answer, or answers `304` when the client holds it
/// already. Other answers pass as they are, and so does one streamed as
/// it is read (its length unknown: an export), which tagging would hold
/// whole in memory first.
pub async fn apply(if_none_match: Option<HeaderValue>, response: Response) -> Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::OK || !json || response.body().size_hint().exact().is_none()
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Answers are built whole before they are sent: this reads memory.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
        return Response::from_parts(parts, Body::empty());
    };
    let tag = of(&bytes);
    let Ok(value) = HeaderValue::from_str(&tag) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if if_none_match.is_some_and(|v| listed(&v, &tag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(header::ETAG, value);
        return Response::from_parts(parts, Body::empty());
    }
    parts.headers.insert(header::ETAG, value);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_list_names_a_tag_strongly_weakly_or_by_star() {
        let tag = of(b"{}");
        assert_eq!(tag.len(), 18);
        assert_ne!(tag, of(b"{ }"));
        for (list, named) in [
            (tag.clone(), true),
            (format!("W/{tag}"), true),
            (format!("\"0000000000000000\", {tag}"), true),
            ("*".to_owned(), true),
            ("\"0000000000000000\"".to_owned(), false),
            (String::new(), false),
        ] {
            let value = HeaderValue::from_str(&list).expect("header");
            assert_eq!(listed(&value, &tag), named, "{list}");
        }
    }
}
