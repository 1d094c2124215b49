//! The OpenAPI 3.1 document of the API, `GET /openapi.json`.
//!
//! Every shape in it comes from the Rust type that produces or reads it
//! (`utoipa::ToSchema` on the answer types of [`crate::answers`], the
//! request bodies of the route modules, the rows of
//! `taskmaster_shared::model`), so a field cannot change without the spec
//! changing with it. The operations are the table [`OPERATIONS`] beside the
//! router; a test holds the two to each other (same paths, same methods,
//! nothing more), and the integration tests validate real answers against
//! the schemas.
//!
//! The document is built once, at first use, and served from memory.
//! `GET /docs` shows it with Swagger UI, served from the binary.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use taskmaster_shared::control::Counts;
use taskmaster_shared::domain::{Role, WorkTimes};
use taskmaster_shared::model::{Group, Task, User};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, ResponsesBuilder,
};

use super::groups::{AddMember, CreateGroup, UpdateGroup};
use super::tasks::{Batch, CreateTask, TaskChanges};
use super::users::{CreateUser, PutWorkTimes, UpdateUser};
use crate::answers::*;
use crate::error::{BatchErrorBody, ErrorBody};

/// One operation of the API.
pub struct Operation {
    pub method: HttpMethod,
    pub path: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// Needs credentials (every operation but the public ones).
    auth: bool,
    /// Query parameters: name, required, description.
    query: &'static [(&'static str, bool, &'static str)],
    /// The request body's schema.
    body: Option<&'static str>,
    /// The success status and the schema of its `data` (`None`: the
    /// answer is not enveloped; its schema is `raw`).
    ok: (u16, Option<&'static str>),
    /// The schema of an answer that is not enveloped.
    raw: Option<&'static str>,
    /// The error statuses this operation answers beyond the common ones.
    errors: &'static [u16],
}

const fn op(
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
        ok: (200, None),
        raw: None,
        errors: &[],
    }
}

impl Operation {
    const fn answers(mut self, status: u16, data: &'static str) -> Self {
        self.ok = (status, Some(data));
        self
    }
    const fn takes(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }
    const fn query(mut self, query: &'static [(&'static str, bool, &'static str)]) -> Self {
        self.query = query;
        self
    }
    const fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    /// Answered to anyone, without credentials.
    const fn public(mut self) -> Self {
        self.auth = false;
        self
    }
    /// Answered with `raw`, not enveloped (as the reference did).
    const fn raw(mut self, raw: &'static str) -> Self {
        self.raw = Some(raw);
        self
    }
}

use HttpMethod::{Delete, Get, Post, Put};

/// Every operation, in the router's order (see [`super::api`]).
pub const OPERATIONS: &[Operation] = &[
    op(
        Get,
        "/health",
        "operations",
        "Liveness and readiness (Redis reachable, no restore running)",
    )
    .public()
    .raw("Health")
    .errors(&[503]),
    op(Get, "/openapi.json", "operations", "This document")
        .public()
        .raw("OpenApiDocument"),
    op(
        Get,
        "/users",
        "users",
        "The users the caller may list (owner: all; group admin: itself and its groups' members)",
    )
    .answers(200, "UserList")
    .errors(&[403]),
    op(
        Post,
        "/users",
        "users",
        "Create a user (owner; a group admin creates plain users)",
    )
    .takes("CreateUser")
    .answers(201, "UserMessage")
    .errors(&[400, 403, 409, 413, 422]),
    op(
        Get,
        "/users/search",
        "users",
        "Search users by name or email",
    )
    .query(&[(
        "q",
        true,
        "Text to find in full names and emails (case-insensitive)",
    )])
    .answers(200, "UserSearch")
    .errors(&[400, 403]),
    op(Get, "/users/{id}", "users", "One user")
        .answers(200, "User")
        .errors(&[400, 403, 404]),
    op(Put, "/users/{id}", "users", "Change a user")
        .takes("UpdateUser")
        .answers(200, "UserMessage")
        .errors(&[400, 403, 404, 409, 413, 422]),
    op(
        Delete,
        "/users/{id}",
        "users",
        "Delete a user and its tasks",
    )
    .answers(200, "UserMessage")
    .errors(&[400, 403, 404, 409]),
    op(
        Get,
        "/users/{id}/worktimes",
        "users",
        "A user's weekly work times",
    )
    .answers(200, "UserWorkTimes")
    .errors(&[400, 403, 404]),
    op(
        Put,
        "/users/{id}/worktimes",
        "users",
        "Replace a user's weekly work times",
    )
    .takes("PutWorkTimes")
    .answers(200, "WorkTimesUpdated")
    .errors(&[400, 403, 404, 413, 422]),
    op(
        Get,
        "/users/{id}/tasks",
        "tasks",
        "A user's tasks, ascending by id",
    )
    .answers(200, "UserTasks")
    .errors(&[400, 403, 404]),
    op(
        Post,
        "/users/{id}/tasks",
        "tasks",
        "Create a task for a user, in one of its groups",
    )
    .takes("CreateTask")
    .answers(201, "TaskMessage")
    .errors(&[400, 403, 404, 413, 422]),
    op(Get, "/users/{id}/tasks/{tid}", "tasks", "One task")
        .answers(200, "Task")
        .errors(&[400, 403, 404]),
    op(Put, "/users/{id}/tasks/{tid}", "tasks", "Change a task")
        .takes("TaskChanges")
        .answers(200, "TaskMessage")
        .errors(&[400, 403, 404, 413, 422]),
    op(Delete, "/users/{id}/tasks/{tid}", "tasks", "Delete a task")
        .answers(200, "TaskMessage")
        .errors(&[400, 403, 404]),
    op(
        Put,
        "/users/{id}/tasks/{tid}/done",
        "tasks",
        "Mark a task done",
    )
    .answers(200, "TaskMessage")
    .errors(&[400, 403, 404]),
    op(
        Get,
        "/groups",
        "groups",
        "The groups the caller belongs to or administers (owner: all)",
    )
    .answers(200, "GroupList"),
    op(Post, "/groups", "groups", "Create a group (owner)")
        .takes("CreateGroup")
        .answers(201, "GroupMessage")
        .errors(&[400, 403, 409, 413, 422]),
    op(Get, "/groups/{id}", "groups", "One group with its counts")
        .answers(200, "GroupDetail")
        .errors(&[400, 403, 404]),
    op(
        Put,
        "/groups/{id}",
        "groups",
        "Rename a group or change its admin",
    )
    .takes("UpdateGroup")
    .answers(200, "GroupMessage")
    .errors(&[400, 403, 404, 409, 413, 422]),
    op(
        Delete,
        "/groups/{id}",
        "groups",
        "Delete a group and its tasks (owner)",
    )
    .answers(200, "GroupDeleted")
    .errors(&[400, 403, 404]),
    op(
        Get,
        "/groups/{id}/users",
        "groups",
        "A group's members (plain members see ids and names)",
    )
    .answers(200, "MemberList")
    .errors(&[400, 403, 404]),
    op(Post, "/groups/{id}/users", "groups", "Add a member")
        .takes("AddMember")
        .answers(200, "MemberAdded")
        .errors(&[400, 403, 404, 409, 413, 422]),
    op(
        Delete,
        "/groups/{id}/users/{uid}",
        "groups",
        "Remove a member and its tasks in the group",
    )
    .answers(200, "MemberRemoved")
    .errors(&[400, 403, 404, 409]),
    op(Get, "/groups/{id}/tasks", "groups", "A group's tasks")
        .answers(200, "GroupTasks")
        .errors(&[400, 403, 404]),
    op(Get, "/groups/{id}/stats", "groups", "A group's task counts")
        .answers(200, "GroupStats")
        .errors(&[400, 403, 404]),
    op(
        Get,
        "/tasks/search",
        "tasks",
        "Search the tasks the caller may see",
    )
    .query(&[(
        "q",
        true,
        "Text to find in titles and notes (case-insensitive)",
    )])
    .answers(200, "TaskSearch")
    .errors(&[400, 403]),
    op(
        Get,
        "/tasks/stats",
        "tasks",
        "Task counts over what the caller may see",
    )
    .answers(200, "TaskStats"),
    op(
        Post,
        "/tasks/batch",
        "tasks",
        "Complete, reopen, update or delete up to 1000 tasks, all or nothing",
    )
    .takes("Batch")
    .answers(200, "BatchResult")
    .errors(&[400, 403, 404, 413, 422]),
    op(
        Get,
        "/tasks/filter",
        "tasks",
        "Filter the tasks the caller may see",
    )
    .query(&[
        (
            "status",
            false,
            "`true`/`false` (also `completed`/`pending`, `1`/`0`)",
        ),
        ("priority", false, "1, 2 or 3"),
        ("group_id", false, "A group id"),
        ("user_id", false, "A user id"),
    ])
    .answers(200, "FilterResult")
    .errors(&[403, 422]),
    op(
        Get,
        "/admin/status",
        "operations",
        "syncd's status and the stores' (owner)",
    )
    .answers(200, "AdminStatus")
    .errors(&[403]),
    op(
        Get,
        "/admin/stats",
        "operations",
        "Rows in Redis and PostgreSQL, and pending changes (owner)",
    )
    .answers(200, "AdminStats")
    .errors(&[403]),
    op(
        Post,
        "/admin/sync",
        "operations",
        "Ask syncd to flush, report, back up or restore (owner)",
    )
    .query(&[
        (
            "action",
            false,
            "`force` (the default), `status`, `backup` or `restore`",
        ),
        (
            "from",
            false,
            "restore: a backup file in BACKUP_DIR to load first",
        ),
        (
            "discard_pending",
            false,
            "restore: `true` drops pending changes PostgreSQL refuses (saved to a file first)",
        ),
    ])
    .raw("SyncDone")
    .errors(&[400, 403, 409, 504]),
];

/// What every authenticated operation may also answer.
const COMMON_ERRORS: [u16; 4] = [401, 429, 500, 503];

fn describe(status: u16) -> &'static str {
    match status {
        200 => "Done",
        201 => "Created",
        400 => "Malformed: bad JSON, a wrong type, a path id that is not a positive integer",
        401 => "No or wrong credentials (`WWW-Authenticate: Basic`)",
        403 => "Not allowed for the caller's role, or a cross-site browser request",
        404 => "Not found, or not visible to the caller",
        405 => {
            "The path, its parameters as sent, names a route without this method (`Allow` lists those it has)"
        }
        409 => "A uniqueness rule or the current state forbids it (the error says which)",
        413 => "Body over 1 MiB",
        422 => "Well-formed but invalid: the error names the field",
        429 => "Too many password checks or wrong owner passwords (`Retry-After`)",
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
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
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

fn operation(o: &Operation) -> utoipa::openapi::path::Operation {
    let mut responses = ResponsesBuilder::new();
    let json = "application/json";
    let success = match (o.ok.1, o.raw) {
        (Some(data), _) => ContentBuilder::new().schema(Some(envelope(data))).build(),
        (None, Some(raw)) => ContentBuilder::new().schema(Some(schema_ref(raw))).build(),
        (None, None) => ContentBuilder::new().build(),
    };
    responses = responses.response(
        o.ok.0.to_string(),
        ResponseBuilder::new()
            .description(describe(o.ok.0))
            .content(json, success),
    );
    let common: &[u16] = if o.auth { &COMMON_ERRORS } else { &[] };
    let mut errors: Vec<u16> = o.errors.iter().chain(common).copied().collect();
    // A path parameter sent empty or holding a slash can make the path
    // another route's, one without this method.
    if o.path.contains('{') {
        errors.push(405);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        let body = match (o.path, status) {
            ("/tasks/batch", 403 | 404) => "BatchErrorBody",
            // Health answers its own shape in both states.
            ("/health", _) => "Health",
            _ => "ErrorBody",
        };
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(describe(status))
                .content(
                    json,
                    ContentBuilder::new().schema(Some(schema_ref(body))).build(),
                ),
        );
    }
    let mut parameters = path_parameters(o.path);
    parameters.extend(o.query.iter().map(|(name, required, description)| {
        ParameterBuilder::new()
            .name(*name)
            .parameter_in(ParameterIn::Query)
            .required(if *required {
                Required::True
            } else {
                Required::False
            })
            .description(Some(*description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
    }));
    let mut builder = OperationBuilder::new()
        .tag(o.tag)
        .summary(Some(o.summary))
        .operation_id(Some(operation_id(o)))
        .parameters(Some(parameters))
        .responses(responses.build());
    if let Some(body) = o.body {
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
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
        ]))
    } else {
        builder.securities(Some([SecurityRequirement::default()]))
    };
    builder.build()
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
fn with<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    components.schema_from::<T>().schemas_from_iter(nested)
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut paths = PathsBuilder::new();
    for o in OPERATIONS {
        paths = paths.path(o.path, PathItem::new(o.method.clone(), operation(o)));
    }
    let mut components = ComponentsBuilder::new();
    components = with::<User>(components);
    components = with::<Group>(components);
    components = with::<Task>(components);
    components = with::<Role>(components);
    components = with::<WorkTimes>(components);
    components = with::<Counts>(components);
    components = with::<ErrorBody<'static>>(components);
    components = with::<BatchErrorBody<'static>>(components);
    components = with::<CreateUser>(components);
    components = with::<UpdateUser>(components);
    components = with::<PutWorkTimes>(components);
    components = with::<CreateGroup>(components);
    components = with::<UpdateGroup>(components);
    components = with::<AddMember>(components);
    components = with::<CreateTask>(components);
    components = with::<TaskChanges>(components);
    components = with::<Batch>(components);
    components = with::<Health>(components);
    components = with::<UserList>(components);
    components = with::<UserSearch>(components);
    components = with::<UserMessage>(components);
    components = with::<UserWorkTimes>(components);
    components = with::<WorkTimesUpdated>(components);
    components = with::<UserTasks<'static>>(components);
    components = with::<TaskMessage>(components);
    components = with::<TaskSearch>(components);
    components = with::<TaskStats>(components);
    components = with::<BatchResult>(components);
    components = with::<FilterResult>(components);
    components = with::<GroupList>(components);
    components = with::<GroupMessage>(components);
    components = with::<GroupDetail>(components);
    components = with::<GroupDeleted>(components);
    components = with::<MemberList>(components);
    components = with::<MemberAdded>(components);
    components = with::<MemberRemoved>(components);
    components = with::<GroupTasks>(components);
    components = with::<GroupStats>(components);
    components = with::<AdminStatus>(components);
    components = with::<AdminStats>(components);
    components = with::<SyncDone>(components);
    let components = components
        .schema(
            "OpenApiDocument",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some("An OpenAPI 3.1 document")),
        )
        .security_scheme(
            "owner_password",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Owner-Password",
                "The owner secret (OWNER_PASSWORD). Wrong values are counted per client and in all; past the limit the header is answered 429 before it is compared.",
            ))),
        )
        .security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A user's numeric id or email (any case) and its password. 10 password checks per account and 5 minutes, then 429.",
                    ))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .servers(Some([
            utoipa::openapi::server::Server::new("/"),
            utoipa::openapi::server::Server::new(super::VERSIONED),
        ]))
        .info(
            InfoBuilder::new()
                .title("taskmaster")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION)),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

const DESCRIPTION: &str = "Users, groups with group admins, and tasks, behind three roles \
(owner, group admin, user). Wire-compatible with the reference system: every answer is \
`{\"success\": true, \"data\": ...}` or `{\"success\": false, \"error\": \"...\"}` (a refused \
batch adds `errors` and `error_count`). Reference quirks, kept on purpose: request field names \
match in any case (`Title` is `title`); in updates, an absent field, `null`, `\"\"` for a \
required text (`title`, `full_name`, `email`, `password`, `role`, `name`) and `0` for an id or \
a priority mean \"unchanged\", while `deadline: \"\"`, `information: \"\"` and `number: \"\"` \
clear; `priority: 0` on create means the default, 2. A JSON body is read whatever its \
Content-Type (the reference's clients send none), but a state-changing request a browser \
sent from another site is refused (403).";

/// The document as served: built once, then answered from memory.
static DOCUMENT: LazyLock<Bytes> = LazyLock::new(|| {
    Bytes::from(
        document()
            .to_json()
            .expect("the OpenAPI document serialises"),
    )
});

/// `GET /docs`: Swagger UI over `/openapi.json`. Its script and style come
/// from the `utoipa-swagger-ui` crate's vendored copy, compiled into the
/// binary, so the page works on a server without internet access (no
/// CDN). The page is not an API operation, so it is not in the document.
pub fn docs_page() -> axum::Router<crate::state::AppState> {
    use utoipa_swagger_ui::{Config, SwaggerUi};
    let config = Config::new(["/openapi.json"])
        .try_it_out_enabled(true)
        .display_operation_id(true)
        .persist_authorization(false);
    SwaggerUi::new("/docs").config(config).into()
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> Response {
    let mut response = DOCUMENT.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_every_operation_once_with_a_unique_id() {
        let doc = serde_json::to_value(document()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = Vec::new();
        for o in OPERATIONS {
            let method = method_name(&o.method);
            let operation = &doc["paths"][o.path][method];
            assert!(operation.is_object(), "{method} {} missing", o.path);
            ids.push(operation["operationId"].as_str().expect("id").to_owned());
            // Every schema it names exists.
            let text = operation.to_string();
            for name in text.split("#/components/schemas/").skip(1) {
                let name = name.split('"').next().expect("name");
                assert!(
                    doc["components"]["schemas"][name].is_object(),
                    "{name} undefined"
                );
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
    }

    #[test]
    fn the_schemas_state_the_validation_limits() {
        let doc = serde_json::to_value(document()).expect("json");
        let schemas = &doc["components"]["schemas"];
        use taskmaster_shared::domain::*;
        for (schema, field, max) in [
            ("Task", "title", TITLE_MAX),
            ("Task", "information", INFORMATION_MAX),
            ("User", "full_name", FULL_NAME_MAX),
            ("User", "number", NUMBER_MAX),
            ("User", "email", EMAIL_MAX),
            ("Group", "name", GROUP_NAME_MAX),
            ("CreateTask", "title", TITLE_MAX),
            ("CreateUser", "full_name", FULL_NAME_MAX),
            ("CreateGroup", "name", GROUP_NAME_MAX),
        ] {
            let property = &schemas[schema]["properties"][field];
            assert_eq!(
                property["maxLength"], max as u64,
                "{schema}.{field}: {property}"
            );
        }
        assert_eq!(schemas["Task"]["properties"]["priority"]["maximum"], 3);
    }
}
