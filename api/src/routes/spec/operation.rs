//! One row of [`super::operations::OPERATIONS`] as an OpenAPI operation:
//! its parameters, body, responses (the success enveloped, every error
//! status with its schema) and security.

use utoipa::ToSchema;
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder};

use super::row::{Kind, Operation, Param, method_name};

/// What every authenticated operation may also answer.
const COMMON_ERRORS: [u16; 5] = [401, 403, 429, 500, 503];

fn describe(status: u16) -> &'static str {
    match status {
        200 => "Done",
        201 => "Created",
        204 => "Done; no body",
        400 => "Malformed: bad JSON, a wrong type, a path id that is not a positive integer",
        401 => "No or wrong credentials (`WWW-Authenticate: Basic`)",
        403 => {
            "Not allowed for the caller's role, a cross-site browser request, a cookie \
             session's write without its X-CSRF-Token, a read-only API token's write, or \
             the right password of a deactivated account"
        }
        404 => "Not found, or not visible to the caller",
        405 => {
            "The path, its parameters as sent, names a route without this method (`Allow` lists those it has)"
        }
        409 => {
            "A uniqueness rule, a task quota (`MAX_TASKS_PER_USER`, `MAX_TASKS_PER_GROUP`) or the \
             current state forbids it (the error says which)"
        }
        412 => "`If-Match` names a tag the row's answer no longer has: read it again",
        202 => "Taken: running as a background job (`Location: /jobs/{id}`)",
        413 => "Body over 1 MiB (an import's file over `IMPORT_MAX_BYTES`)",
        415 => "A body of a media type the operation does not take",
        422 => "Well-formed but invalid: the error names the field",
        429 => {
            "Over the rate limit, or too many password checks or wrong owner passwords \
             (`Retry-After`; `RateLimit-*` headers)"
        }
        500 => "Internal error (logged; the body reveals nothing)",
        503 => {
            "Storage unavailable, a restore running, or a create waiting after a Redis restart (`Retry-After`)"
        }
        504 => "syncd did not answer in time",
        _ => "See the error",
    }
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// `{"success": true, "data": <name>}`.
fn envelope(name: &str) -> Schema {
    ObjectBuilder::new()
        .property(
            "success",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([true])),
        )
        .property("data", schema_ref(name))
        .required("success")
        .required("data")
        .into()
}

fn path_parameters(path: &str) -> Vec<utoipa::openapi::path::Parameter> {
    // A personal token's id is its own random text, not a row's number.
    if path.starts_with("/auth/tokens/") {
        return vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("A personal API token's id, as listed"))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[A-Za-z0-9_-]{22}$")),
                ))
                .build(),
        ];
    }
    path_names(path)
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(
                    "A positive integer id (anything else is 400; leading zeros are accepted)",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                ))
                .build()
        })
        .collect()
}

fn query_parameter(p: &Param) -> utoipa::openapi::path::Parameter {
    let schema = match p.kind {
        Kind::Text => ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1)),
        // Empty is accepted as "not given".
        Kind::OneOf(words) => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(words.iter().copied().chain([""]))),
        Kind::Id => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1)),
        Kind::Range(low, high) => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(low))
            .maximum(Some(high)),
        Kind::Flag => ObjectBuilder::new().schema_type(Type::Boolean),
        Kind::Label => ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(taskmaster_shared::domain::LABEL_MAX)),
        Kind::Position => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9]{1,20}(-[0-9]{1,20})?$")),
        Kind::ListOf(words) => {
            let word = words.join("|");
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^({word})(,({word}))*$")))
        }
        Kind::AtLeast(low) => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(low)),
        Kind::Date => ObjectBuilder::new().schema_type(Type::String).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date),
        )),
        Kind::Time => ObjectBuilder::new().schema_type(Type::String).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime),
        )),
        Kind::Cursor => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Za-z0-9_-]{1,512}$")),
        Kind::Sort(keys) => {
            let key = keys.join("|");
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^-?({key})(,-?({key}))*$")))
        }
    };
    ParameterBuilder::new()
        .name(p.name)
        .parameter_in(ParameterIn::Query)
        .required(if p.required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(p.description))
        .schema(Some(schema))
        .build()
}

/// The path parameters of `path`, in order.
pub(super) fn path_names(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// The links of a success answer: one per operation it leads to, named by
/// that operation's id.
fn links(o: &Operation, every: &[Operation]) -> Vec<(String, Link)> {
    let Some(leads) = &o.leads_to else {
        return Vec::new();
    };
    every
        .iter()
        .filter(|next| {
            next.path.starts_with(leads.under)
                && path_names(next.path).all(|n| leads.params.iter().any(|(p, _)| *p == n))
        })
        .map(|next| {
            let id = operation_id(next);
            let mut link = LinkBuilder::new().operation_id(id.clone());
            for name in path_names(next.path) {
                if let Some((_, value)) = leads.params.iter().find(|(p, _)| *p == name) {
                    link = link.parameter(name, *value);
                }
            }
            (id, link.build())
        })
        .collect()
}

/// `o` in its OpenAPI form; `every` is the whole table, for its links.
pub(super) fn operation(o: &Operation, every: &[Operation]) -> utoipa::openapi::path::Operation {
    let mut responses = ResponsesBuilder::new();
    let json = "application/json";
    let success = match (o.ok.1, o.raw) {
        (Some(item), _) if o.stream.is_some() => {
            ContentBuilder::new().schema(Some(schema_ref(item))).build()
        }
        (Some(data), _) => ContentBuilder::new().schema(Some(envelope(data))).build(),
        (None, Some(raw)) => ContentBuilder::new().schema(Some(schema_ref(raw))).build(),
        (None, None) => ContentBuilder::new().build(),
    };
    let mut answer = ResponseBuilder::new().description(describe(o.ok.0));
    if let Some((media, description)) = o.text {
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description));
        answer = answer.content(media, ContentBuilder::new().schema(Some(text)).build());
    } else if o.ok.0 != 204 && o.ok.0 != 101 {
        answer = answer.content(o.stream.unwrap_or(json), success);
    }
    if o.csv {
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("RFC 4180 CSV with a header row of the task's fields"));
        answer = answer.content("text/csv", ContentBuilder::new().schema(Some(text)).build());
    }
    for (name, link) in links(o, every) {
        answer = answer.link(name, link);
    }
    if o.paged {
        let header = |description: &str, kind: Type| {
            utoipa::openapi::header::HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(kind)))
                .description(Some(description))
                .build()
        };
        answer = answer
            .header(
                "Link",
                header(
                    "`<…>; rel=\"next\"`: the next page, asked for in the same style; absent on the last page and without paging",
                    Type::String,
                ),
            )
            .header(
                "X-Total-Count",
                header(
                    "How many rows the whole list holds, when that is cheap to know: without a filter \
                     beyond the sorted key's bounds, or for an order of several keys (also `total`)",
                    Type::Integer,
                ),
            );
    }
    let tagged = o.method == HttpMethod::Get
        && o.stream.is_none()
        && !o.csv
        && o.text.is_none()
        && o.ok.0 == 200;
    if o.idempotent {
        answer = answer.header(
            "Idempotent-Replayed",
            utoipa::openapi::header::HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(
                    "`true` on the answer to a retry of an `Idempotency-Key`",
                ))
                .build(),
        );
    }
    if tagged {
        answer = answer.header(
            "ETag",
            utoipa::openapi::header::HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(
                    "The answer's tag (a hash of its body): send it as `If-None-Match` to be \
                     answered 304 while it holds",
                ))
                .build(),
        );
    }
    if o.upload {
        for status in [200, 202] {
            let mut also = ResponseBuilder::new()
                .description(describe(status))
                .content(
                    json,
                    ContentBuilder::new().schema(o.ok.1.map(envelope)).build(),
                );
            if status == 202 {
                also = also.header(
                    "Location",
                    utoipa::openapi::header::HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .description(Some("`/jobs/{id}`: the job, as it stands"))
                        .build(),
                );
            }
            responses = responses.response(status.to_string(), also);
        }
    }
    responses = responses.response(o.ok.0.to_string(), answer);
    if tagged {
        responses = responses.response(
            "304",
            ResponseBuilder::new()
                .description("Not modified: `If-None-Match` named the answer's `ETag`; no body"),
        );
    }
    let common: &[u16] = if o.auth { &COMMON_ERRORS } else { &[] };
    let mut errors: Vec<u16> = o.errors.iter().chain(common).copied().collect();
    if o.conditional {
        errors.push(412);
    }
    // A path parameter sent empty or holding a slash can make the path
    // another route's, one without this method.
    if o.path.contains('{') {
        errors.push(405);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        let schema = match (o.raw, o.refusal, status) {
            (Some(raw), _, _) if !o.auth => schema_ref(raw),
            // A refusal of the operation's own lists its reasons; the
            // refusals every operation shares (credentials, scope) do not.
            (_, Some(refusal), 403 | 404) => RefOr::T(Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(schema_ref(refusal))
                    .item(schema_ref("ErrorBody"))
                    .build(),
            )),
            (_, _, 409 | 422) if o.upload => RefOr::T(Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(schema_ref("ImportRefused"))
                    .item(schema_ref("ErrorBody"))
                    .build(),
            )),
            _ => schema_ref("ErrorBody"),
        };
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(describe(status))
                .content(json, ContentBuilder::new().schema(Some(schema)).build()),
        );
    }
    let mut parameters = path_parameters(o.path);
    parameters.extend(o.query.iter().copied().flatten().map(query_parameter));
    if o.idempotent {
        parameters.push(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "1 to 255 visible ASCII characters of the client's choosing: a retry with the \
                     same key and the same request within 24 hours is answered as the first was \
                     (`Idempotent-Replayed: true`) and creates nothing; the same key with another \
                     request is 422",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[!-~]{1,255}$")),
                ))
                .build(),
        );
    }
    if o.conditional {
        parameters.push(
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "The `ETag` of the row's answer to a GET as last read: the change is made only \
                     while the row is still that, held in the write's own step (412 otherwise)",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
    }
    let mut builder = OperationBuilder::new()
        .tag(o.tag)
        .summary(Some(o.summary))
        .operation_id(Some(operation_id(o)))
        .parameters(Some(parameters))
        .responses(responses.build());
    if o.upload {
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "CSV, UTF-8 (a byte-order mark is allowed), `,` or `;`, with a header row",
            ));
        let form = ObjectBuilder::new()
            .property(
                "file",
                ObjectBuilder::new().schema_type(Type::String).format(Some(
                    utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Binary,
                    ),
                )),
            )
            .required("file");
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("text/csv", ContentBuilder::new().schema(Some(text)).build())
                .content(
                    "multipart/form-data",
                    ContentBuilder::new().schema(Some(form)).build(),
                )
                .build(),
        ));
    }
    if let Some(body) = o.body {
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(if o.body_optional {
                    Required::False
                } else {
                    Required::True
                }))
                .content(
                    json,
                    ContentBuilder::new().schema(Some(schema_ref(body))).build(),
                )
                .build(),
        ));
    }
    builder = if o.auth {
        builder.securities(Some([
            SecurityRequirement::new::<_, _, &str>("owner_password", []),
            SecurityRequirement::new::<_, _, &str>("basic", []),
            SecurityRequirement::new::<_, _, &str>("bearer", []),
            SecurityRequirement::new::<_, _, &str>("cookie", []),
        ]))
    } else {
        builder.securities(Some([SecurityRequirement::default()]))
    };
    builder.build()
}

/// `getUsersIdTasks`-style ids, unique per method and path.
fn operation_id(o: &Operation) -> String {
    let mut id = method_name(&o.method).to_owned();
    for part in o.path.split(['/', '.', '{', '}']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

/// Adds `T`'s schema and every schema it refers to.
pub(super) fn with<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    components.schema_from::<T>().schemas_from_iter(nested)
}
