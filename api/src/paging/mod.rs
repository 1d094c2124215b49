//! Pages, orders and filters of the task lists (`GET /users/{id}/tasks`,
//! `GET /groups/{id}/tasks`).
//!
//! * [`params`]: the paging styles (`limit`/`cursor`, `page`/`per_page`,
//!   `skip`/`limit`) and `sort=`, parsed once; the opaque cursor.
//! * [`engine`]: reads a page from the order indexes
//!   (`taskmaster_shared::order`) in O(log n + page).
//! * here: the answer, the reference's envelope and fields with
//!   `next_cursor` (null on the last page) and, when it was cheap to know,
//!   `total`; the headers `Link: <…>; rel="next"` and `X-Total-Count`.
//!
//! A request with no paging parameter answers what the reference answers
//! (every task, by id), up to `MAX_UNPAGED` tasks; beyond, 422 asks for
//! paging.

pub mod engine;
mod every;
pub mod ids;
pub mod params;

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use taskmaster_shared::domain::FieldError;

pub use engine::{Page, PageQuery, Visible, read, scan};
pub use params::{ListParams, Paging, Sort, Start, Style};

use taskmaster_shared::model::Task;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::OrderScope;
use crate::task_filter::TaskFilter;

/// The header naming the size of the whole list.
pub const TOTAL_HEADER: &str = "x-total-count";

/// 422 for an unpaged list larger than `MAX_UNPAGED`.
pub fn too_large(max: usize) -> ApiError {
    FieldError::new(
        "limit",
        format!(
            "the list holds more than {max} tasks: ask for it in pages \
             (`limit` and `cursor`, `page` and `per_page`, or `skip` and `limit`)"
        ),
    )
    .into()
}

/// Turns a stored row into the item a list answers (`None`: left out).
pub type Wrap = fn(Vec<u8>) -> Option<Vec<u8>>;

/// How a list's answer is written around its rows.
pub struct Shape<'a> {
    /// The name of the array of rows (`tasks`; a search's `results`).
    pub key: &'static str,
    /// The list's own fields, already encoded, before and after the rows
    /// (`"user_id":5` and `"count":2`, say) for an answer of `count` rows.
    pub fields: &'a (dyn Fn(usize) -> (String, String) + Sync),
    /// Each row as it goes out (a search hit wraps its task); `None`: as
    /// stored.
    pub wrap: Option<Wrap>,
}

impl Shape<'_> {
    /// Rows under `tasks`, as stored.
    pub fn tasks(fields: &(dyn Fn(usize) -> (String, String) + Sync)) -> Shape<'_> {
        Shape {
            key: "tasks",
            fields,
            wrap: None,
        }
    }
}

/// A page of a task list read from `scope`'s order index, or, for an
/// unpaged request with `sort`, the whole list in that order (up to
/// `MAX_UNPAGED` tasks).
pub async fn respond(
    state: &AppState,
    uri: &Uri,
    params: &ListParams,
    filter: &TaskFilter,
    visible: Visible<'_>,
    scope: OrderScope,
    shape: &Shape<'_>,
) -> Result<PageAnswer, ApiError> {
    let limits = &state.config.lists;
    let whole = whole(limits.max_unpaged);
    let paging = params.paging.as_ref().unwrap_or(&whole);
    let page = read(
        &state.store,
        &PageQuery {
            scope,
            sort: &params.sort,
            paging,
            filter,
            visible,
            limits,
        },
    )
    .await?;
    finish_answer(uri, params, limits.max_unpaged, page, shape)
}

/// A page as it goes out: the body and its paging headers, kept whole by
/// the first-page cache (`crate::lists`).
#[derive(Debug, Clone)]
pub struct PageAnswer {
    body: axum::body::Bytes,
    total: Option<u64>,
    link: Option<HeaderValue>,
}

impl IntoResponse for PageAnswer {
    fn into_response(self) -> Response {
        let mut response = json(self.body);
        let headers = response.headers_mut();
        if let Some(total) = self.total {
            headers.insert(TOTAL_HEADER, HeaderValue::from(total));
        }
        if let Some(link) = self.link {
            headers.insert(header::LINK, link);
        }
        response
    }
}

impl crate::lists::Weigh for PageAnswer {
    fn bytes(&self) -> usize {
        self.body.len() + self.link.as_ref().map_or(0, HeaderValue::len) + 8
    }
}

/// The paging of an unpaged request: every row, up to `max`.
fn whole(max: usize) -> Paging {
    Paging {
        limit: max,
        start: Start::After(None),
        style: Style::Cursor,
    }
}

/// A page of `tasks` (read already, and filtered), in `params`' order.
pub fn page_of(tasks: Vec<Task>, params: &ListParams, max_unpaged: usize) -> Page {
    let rows = tasks
        .into_iter()
        .filter_map(|t| {
            let raw = serde_json::to_vec(&t).ok()?;
            Some((params.sort.position(&t), raw))
        })
        .collect();
    engine::in_memory(
        rows,
        &params.sort,
        params.paging.as_ref().unwrap_or(&whole(max_unpaged)),
    )
}

/// The answer of `page`: without paging, the reference's shape (422 when
/// the list went on past `max_unpaged` rows); with it, the page with its
/// fields and headers.
pub fn finish(
    uri: &Uri,
    params: &ListParams,
    max_unpaged: usize,
    page: Page,
    shape: &Shape<'_>,
) -> Result<Response, ApiError> {
    finish_answer(uri, params, max_unpaged, page, shape).map(IntoResponse::into_response)
}

/// As [`finish`], before it becomes a response.
fn finish_answer(
    uri: &Uri,
    params: &ListParams,
    max_unpaged: usize,
    mut page: Page,
    shape: &Shape<'_>,
) -> Result<PageAnswer, ApiError> {
    if let Some(wrap) = shape.wrap {
        page.rows = page.rows.into_iter().filter_map(wrap).collect();
    }
    let (head, tail) = (shape.fields)(page.rows.len());
    let Some(paging) = &params.paging else {
        if page.next.is_some() {
            return Err(too_large(max_unpaged));
        }
        let body = write_body(&head, shape.key, &page.rows, &tail, None);
        return Ok(PageAnswer {
            body: body.into(),
            total: None,
            link: None,
        });
    };
    let next_cursor = page.next.as_ref().map(|at| at.cursor(&params.sort));
    let body = write_body(
        &head,
        shape.key,
        &page.rows,
        &tail,
        Some((next_cursor.as_deref(), page.total)),
    );
    Ok(PageAnswer {
        body: body.into(),
        total: page.total,
        link: next_cursor
            .as_deref()
            .and_then(|cursor| HeaderValue::from_str(&next_link(uri, paging, cursor)).ok()),
    })
}

fn json(body: axum::body::Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `{"success":true,"data":{<head>,"<key>":[rows],<tail>}}`, and for a
/// page `,"next_cursor":…` (a cursor is base64url: nothing in it needs
/// escaping) and `,"total":…` when known, before the closing braces.
fn write_body(
    head: &str,
    key: &str,
    rows: &[Vec<u8>],
    tail: &str,
    page: Option<(Option<&str>, Option<u64>)>,
) -> Vec<u8> {
    let size: usize = rows.iter().map(|r| r.len() + 1).sum::<usize>() + 160;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(br#"{"success":true,"data":{"#);
    if !head.is_empty() {
        body.extend_from_slice(head.as_bytes());
        body.push(b',');
    }
    body.push(b'"');
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(br#"":["#);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(row);
    }
    body.push(b']');
    if !tail.is_empty() {
        body.push(b',');
        body.extend_from_slice(tail.as_bytes());
    }
    if let Some((next_cursor, total)) = page {
        body.extend_from_slice(br#","next_cursor":"#);
        match next_cursor {
            Some(c) => {
                body.push(b'"');
                body.extend_from_slice(c.as_bytes());
                body.push(b'"');
            }
            None => body.extend_from_slice(b"null"),
        }
        if let Some(total) = total {
            body.extend_from_slice(format!(r#","total":{total}"#).as_bytes());
        }
    }
    body.extend_from_slice(b"}}");
    body
}

/// `<path?query>; rel="next"`: the request's own query with the next
/// page's position in the request's style.
/// The `Link` to the next page of a log (the change log, the audit log),
/// which pages by cursor only: the request's query with `cursor` (and
/// the parameters in `replaced`) giving way to the next cursor.
pub fn cursor_link(uri: &Uri, cursor: &str, replaced: &[&str]) -> Option<HeaderValue> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k != "cursor" && !replaced.contains(&k.as_ref()) {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("cursor", cursor);
    HeaderValue::from_str(&format!(
        r#"<{}?{}>; rel="next""#,
        uri.path(),
        query.finish()
    ))
    .ok()
}

/// Refuses the page styles of the seeds on a log (`what`): a log grows at
/// one end and is trimmed at the other, so a page number or an offset
/// names no stable place in it, and reaching one would mean walking the
/// log from its start. Its `cursor` does.
pub fn refuse_offsets(
    query: &std::collections::HashMap<String, String>,
    what: &str,
) -> Result<(), FieldError> {
    for field in ["page", "per_page", "skip"] {
        if query.contains_key(field) {
            return Err(FieldError::new(
                field,
                format!(
                    "{what} pages by `cursor` and `limit` only: it grows at one end and is trimmed at \
                     the other, so no page number or offset stays put"
                ),
            ));
        }
    }
    Ok(())
}

fn next_link(uri: &Uri, paging: &Paging, cursor: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if !matches!(k.as_ref(), "cursor" | "page" | "skip") {
            query.append_pair(&k, &v);
        }
    }
    match paging.style {
        Style::Cursor => query.append_pair("cursor", cursor),
        Style::Page { page } => query.append_pair("page", &(page + 1).to_string()),
        Style::Skip { skip } => {
            query.append_pair("skip", &(skip + paging.limit as u64).to_string())
        }
    };
    format!(r#"<{}?{}>; rel="next""#, uri.path(), query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use params::Position;

    #[test]
    fn the_next_link_keeps_the_query_and_moves_the_position_in_its_style() {
        let uri: Uri = "/api/v1/users/5/tasks?state=todo&limit=2&cursor=old"
            .parse()
            .expect("uri");
        let paging = Paging {
            limit: 2,
            start: Start::After(None),
            style: Style::Cursor,
        };
        assert_eq!(
            next_link(&uri, &paging, "abc"),
            r#"</api/v1/users/5/tasks?state=todo&limit=2&cursor=abc>; rel="next""#
        );
        let uri: Uri = "/users/5/tasks?page=2&per_page=10".parse().expect("uri");
        let paging = Paging {
            limit: 10,
            start: Start::Skip(10),
            style: Style::Page { page: 2 },
        };
        assert_eq!(
            next_link(&uri, &paging, "abc"),
            r#"</users/5/tasks?per_page=10&page=3>; rel="next""#
        );
        let paging = Paging {
            limit: 10,
            start: Start::Skip(30),
            style: Style::Skip { skip: 30 },
        };
        let uri: Uri = "/users/5/tasks?skip=30&limit=10".parse().expect("uri");
        assert_eq!(
            next_link(&uri, &paging, "abc"),
            r#"</users/5/tasks?limit=10&skip=40>; rel="next""#
        );
    }

    #[test]
    fn a_page_answers_its_rows_cursor_and_total() {
        let params = ListParams {
            sort: Sort::default(),
            sorted: false,
            paging: None,
        };
        let paging = Paging {
            limit: 1,
            start: Start::After(None),
            style: Style::Cursor,
        };
        let page = Page {
            rows: vec![br#"{"id":1}"#.to_vec()],
            next: Some(Position::of_id(1)),
            total: Some(2),
        };
        let uri: Uri = "/users/5/tasks?limit=1".parse().expect("uri");
        let params = ListParams {
            paging: Some(paging),
            ..params
        };
        let fields = |count: usize| (r#""user_id":5"#.to_owned(), format!(r#""count":{count}"#));
        let response = finish(&uri, &params, 10, page, &Shape::tasks(&fields)).expect("answered");
        assert_eq!(response.headers()[TOTAL_HEADER], "2");
        assert!(response.headers().contains_key(header::LINK));
    }
}
