//! One row of the operations table ([`super::operations::OPERATIONS`]):
//! what an operation takes and answers, built with `const` methods so the
//! table stays one `const` slice.

use HttpMethod::{Delete, Get, Post, Put};
use utoipa::openapi::path::HttpMethod;

/// What a query parameter takes, as the handler parses it.
pub(super) enum Kind {
    /// Text that is not blank.
    Text,
    /// One of these words (or empty, meaning "not given").
    OneOf(&'static [&'static str]),
    /// A positive integer id.
    Id,
    /// An integer in this range, bounds included.
    Range(i64, i64),
    /// `true` or `false`.
    Flag,
    /// A label, or empty (not given).
    Label,
    /// A change log position (`{ms}-{seq}`).
    Position,
    /// A comma-separated list of these words.
    ListOf(&'static [&'static str]),
    /// A whole number from this minimum on.
    AtLeast(i64),
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 time.
    Time,
    /// A list's opaque cursor (base64url).
    Cursor,
    /// `sort=`: sort keys, comma-separated, each optionally after `-`.
    Sort(&'static [&'static str]),
}

/// One query parameter.
pub(super) struct Param {
    pub(super) name: &'static str,
    pub(super) required: bool,
    pub(super) kind: Kind,
    pub(super) description: &'static str,
}

pub(super) const fn param(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param {
        name,
        required: false,
        kind,
        description,
    }
}

/// The required, non-blank `q` of the searches.
pub(super) const fn search(description: &'static str) -> Param {
    Param {
        required: true,
        ..param("q", Kind::Text, description)
    }
}

/// One operation of the API.
pub struct Operation {
    pub method: HttpMethod,
    pub path: &'static str,
    pub(super) tag: &'static str,
    pub(super) summary: &'static str,
    /// Needs credentials (every operation but the public ones).
    pub(super) auth: bool,
    /// Its query parameters, in groups (several operations share a group:
    /// the task filters, the paging).
    pub(super) query: &'static [&'static [Param]],
    /// The request body's schema.
    pub(super) body: Option<&'static str>,
    /// The body may be left out.
    pub(super) body_optional: bool,
    /// The success status and the schema of its `data` (`None`: the
    /// answer is not enveloped; its schema is `raw`).
    pub(super) ok: (u16, Option<&'static str>),
    /// The schema of an answer that is not enveloped; a public operation
    /// answers it in every state, errors included.
    pub(super) raw: Option<&'static str>,
    /// The error statuses this operation answers beyond the common ones.
    pub(super) errors: &'static [u16],
    /// The schema of its 403 and 404, when not the plain error envelope.
    pub(super) refusal: Option<&'static str>,
    /// What its success answer leads to (OpenAPI links, which stateful
    /// clients and fuzzers follow).
    pub(super) leads_to: Option<Leads>,
    /// Its success answer is a stream of this media type, each item of
    /// schema `ok.1` (Server-Sent Events).
    pub(super) stream: Option<&'static str>,
    /// Its success answer is a page: `Link` and `X-Total-Count` headers.
    pub(super) paged: bool,
    /// Takes `If-Match` (412 when the row changed since).
    pub(super) conditional: bool,
    /// Takes `Idempotency-Key` (a create a retry never makes twice).
    pub(super) idempotent: bool,
    /// Its success answer is CSV unless `format=json` asks for the JSON
    /// of `ok.1`.
    pub(super) csv: bool,
    /// Takes a CSV file (the body, or a form's `file`) and answers a
    /// report: 200 (a dry run) and 202 (a job, `Location`) besides `ok`,
    /// and its 409 and 422 may carry the report (see `crate::import`).
    pub(super) upload: bool,
    /// Its success answer is text of this media type (and description),
    /// not JSON: the metrics, the status page.
    pub(super) text: Option<(&'static str, &'static str)>,
}

/// A success answer that names a row: every operation under `under` whose
/// path parameters are all in `params` can be called with them next.
pub(super) struct Leads {
    pub(super) under: &'static str,
    /// Path parameter and the runtime expression that gives its value.
    pub(super) params: &'static [(&'static str, &'static str)],
}

pub(super) const fn op(
    method: HttpMethod,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        auth: true,
        query: &[],
        body: None,
        body_optional: false,
        ok: (200, None),
        raw: None,
        errors: &[],
        refusal: None,
        leads_to: None,
        stream: None,
        paged: false,
        conditional: false,
        idempotent: false,
        csv: false,
        upload: false,
        text: None,
    }
}

impl Operation {
    pub(super) const fn answers(mut self, status: u16, data: &'static str) -> Self {
        self.ok = (status, Some(data));
        self
    }
    /// Succeeds with `status` and no body.
    pub(super) const fn answers_nothing(mut self, status: u16) -> Self {
        self.ok = (status, None);
        self
    }
    pub(super) const fn takes(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }
    /// Takes `body`, or nothing.
    pub(super) const fn may_take(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self.body_optional = true;
        self
    }
    pub(super) const fn query(mut self, query: &'static [&'static [Param]]) -> Self {
        self.query = query;
        self
    }
    pub(super) const fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    /// Answered to anyone, without credentials.
    pub(super) const fn public(mut self) -> Self {
        self.auth = false;
        self
    }
    /// Answered with `raw`, not enveloped (as the reference did).
    pub(super) const fn raw(mut self, raw: &'static str) -> Self {
        self.raw = Some(raw);
        self
    }
    /// Its success answer names a row that the operations under `under`
    /// take (see [`Leads`]).
    pub(super) const fn leads_to(
        mut self,
        under: &'static str,
        params: &'static [(&'static str, &'static str)],
    ) -> Self {
        self.leads_to = Some(Leads { under, params });
        self
    }
    /// Succeeds with a stream of `media`, each item a `schema`.
    pub(super) const fn streams(mut self, media: &'static str, schema: &'static str) -> Self {
        self.stream = Some(media);
        self.ok = (200, Some(schema));
        self
    }
    /// Pages its answer (see `crate::paging`): its success answer may
    /// carry `Link` and `X-Total-Count`.
    pub(super) const fn paged(mut self) -> Self {
        self.paged = true;
        self
    }
    /// Answers CSV by default, the JSON of `ok.1` with `format=json`
    /// (see `crate::export`).
    pub(super) const fn csv(mut self) -> Self {
        self.csv = true;
        self
    }
    /// Takes a CSV file and answers an import's report (see
    /// [`Operation::upload`]).
    pub(super) const fn upload(mut self) -> Self {
        self.upload = true;
        self
    }
    /// Succeeds with text of `media` (see [`Operation::text`]).
    pub(super) const fn text(mut self, media: &'static str, description: &'static str) -> Self {
        self.text = Some((media, description));
        self
    }
    /// Takes `Idempotency-Key` (see `crate::idempotency`).
    pub(super) const fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
    /// Takes `If-Match`: done only while the row's answer still has that
    /// `ETag`, else 412.
    pub(super) const fn conditional(mut self) -> Self {
        self.conditional = true;
        self
    }
    /// Its 403 and 404 answer `schema` (a refused batch lists every reason).
    pub(super) const fn refused_with(mut self, schema: &'static str) -> Self {
        self.refusal = Some(schema);
        self
    }
}

/// The method as OpenAPI names it.
pub fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        Get => "get",
        Post => "post",
        Put => "put",
        Delete => "delete",
        _ => "other",
    }
}
