//! The OpenAPI 3.1 document of the API, `GET /openapi.json`.
//!
//! Every shape in it comes from the Rust type that produces or reads it
//! (`utoipa::ToSchema` on the answer types of [`crate::answers`], the
//! request bodies of the route modules, the rows of
//! `taskmaster_shared::model`), so a field cannot change without the spec
//! changing with it. The operations are the table [`OPERATIONS`]
//! (`operations.rs`, its rows' type in `row.rs`) beside the router, each
//! turned into its OpenAPI form
//! by `operation.rs`; a test holds the two to each other (same paths, same methods,
//! nothing more), and the integration tests validate real answers against
//! the schemas.
//!
//! The document is built once, at first use, and served from memory.
//! `GET /docs` shows it with Swagger UI, served from the binary.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use taskmaster_shared::audit::Record;
use taskmaster_shared::control::{AuditBacklog, Counts};
use taskmaster_shared::domain::{Label, Role, TaskState, WorkTimes};
use taskmaster_shared::model::{Group, Task, User};
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApiBuilder, PathItem, PathsBuilder};

use super::auth::{Login, Refresh, Register};
use super::groups::{AddMember, CreateGroup, UpdateGroup};
use super::labels::RenameLabel;
use super::tokens::CreateToken;
use super::users::{CreateUser, PutWorkTimes, UpdateUser};
use super::webhooks::{CreateWebhook, UpdateWebhook};
use crate::answers::*;
use crate::error::{BatchErrorBody, ErrorBody};
use crate::task_body::{Batch, CreateTask, TaskChanges};
use taskmaster_shared::webhook::Webhook;

mod operation;
mod operations;
mod params;
mod row;

use operation::{operation, with};
pub use operations::OPERATIONS;
pub use row::{Operation, method_name};

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut paths = PathsBuilder::new();
    for o in OPERATIONS {
        paths = paths.path(
            o.path,
            PathItem::new(o.method.clone(), operation(o, OPERATIONS)),
        );
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
    components = with::<UserTasksExport>(components);
    components = with::<GroupTasksExport>(components);
    components = with::<ImportJob>(components);
    components = with::<ImportRefused<'static>>(components);
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
    components = with::<GroupLabels>(components);
    components = with::<LabelRenamed>(components);
    components = with::<RenameLabel>(components);
    components = with::<TaskState>(components);
    components = with::<Label>(components);
    components = with::<AdminStatus>(components);
    components = with::<AdminStats>(components);
    components = with::<SyncDone>(components);
    components = with::<Login>(components);
    components = with::<Refresh>(components);
    components = with::<Register>(components);
    components = with::<SessionTokens>(components);
    components = with::<CookieSession>(components);
    components = with::<SessionAnswer>(components);
    components = with::<Me>(components);
    components = with::<ApiToken>(components);
    components = with::<ApiTokenList>(components);
    components = with::<ApiTokenCreated>(components);
    components = with::<CreateToken>(components);
    components = with::<FeedMessage>(components);
    components = with::<ChangesPage<'static>>(components);
    components = with::<WsTicket>(components);
    components = with::<AuditPage>(components);
    components = with::<Record>(components);
    components = with::<AuditBacklog>(components);
    components = with::<StatusData>(components);
    components = with::<SyncPanel>(components);
    components = with::<crate::metrics::TotalsView>(components);
    components = with::<taskmaster_shared::control::BackupFile>(components);
    components = with::<Webhook>(components);
    components = with::<WebhookCreated>(components);
    components = with::<WebhookList>(components);
    components = with::<WebhookMessage>(components);
    components = with::<WebhookDelivery>(components);
    components = with::<WebhookDeliveries>(components);
    components = with::<Redelivery>(components);
    components = with::<CreateWebhook>(components);
    components = with::<UpdateWebhook>(components);
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
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from POST /auth/login or POST /auth/refresh (`tma_…`), valid for ACCESS_TOKEN_TTL (15 minutes by default) while its session lives; or a personal API token from POST /auth/tokens (`tmk_…`), valid until it expires or is revoked (a read-only one is answered 403 on anything but GET, HEAD and OPTIONS).",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "tm_access",
                "The access token in the HTTP-only session cookie set by POST /auth/login?cookie=true. POST, PUT and DELETE must also send X-CSRF-Token: the session's CSRF token (the login's answer, and the readable tm_csrf cookie), else 403.",
            ))),
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
    use crate::task_filter::STATUS_FILTERS;

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

    /// Every operation of the document, by id.
    fn by_id(doc: &serde_json::Value) -> std::collections::HashMap<String, serde_json::Value> {
        let mut ops = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let mut op = op.clone();
                op["x-path"] = path.clone().into();
                op["x-method"] = method.clone().into();
                ops.insert(op["operationId"].as_str().expect("id").to_owned(), op);
            }
        }
        ops
    }

    #[test]
    fn every_link_names_an_operation_and_fills_all_its_path_parameters() {
        let doc = serde_json::to_value(document()).expect("json");
        let ops = by_id(&doc);
        let mut seen = Vec::new();
        for op in ops.values() {
            for answer in op["responses"].as_object().expect("responses").values() {
                let Some(links) = answer["links"].as_object() else {
                    continue;
                };
                for link in links.values() {
                    let target = &ops[link["operationId"].as_str().expect("target")];
                    let path = target["x-path"].as_str().expect("path");
                    for name in operation::path_names(path) {
                        let value = link["parameters"][name].as_str();
                        assert!(
                            value.is_some_and(|v| v.starts_with("$response.body#/data/")),
                            "{path}: {name} unfilled"
                        );
                    }
                    seen.push(format!(
                        "{} {} -> {} {path}",
                        op["x-method"], op["x-path"], target["x-method"]
                    ));
                }
            }
        }
        seen.sort();
        // The creates lead to what they created.
        for expected in [
            r#""post" "/users" -> "get" /users/{id}"#,
            r#""post" "/users" -> "delete" /users/{id}"#,
            r#""post" "/users" -> "post" /users/{id}/tasks"#,
            r#""post" "/users/{id}/tasks" -> "put" /users/{id}/tasks/{tid}/done"#,
            r#""post" "/groups" -> "post" /groups/{id}/users"#,
            r#""post" "/groups/{id}/users" -> "delete" /groups/{id}/users/{uid}"#,
        ] {
            assert!(
                seen.iter().any(|s| s == expected),
                "{expected} in {seen:#?}"
            );
        }
        // A group's create cannot fill a member's id.
        assert!(
            !seen
                .iter()
                .any(|s| s.starts_with(r#""post" "/groups" -> "delete""#) && s.ends_with("{uid}"))
        );
    }

    #[test]
    fn query_parameters_are_typed_as_their_handlers_parse_them() {
        let doc = serde_json::to_value(document()).expect("json");
        let ops = by_id(&doc);
        let param = |op: &str, name: &str| {
            ops[op]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{op} {name}"))["schema"]
                .clone()
        };
        let mut statuses: Vec<String> = STATUS_FILTERS.iter().map(|s| s.to_string()).collect();
        statuses.push(String::new());
        assert_eq!(
            param("getTasksFilter", "status")["enum"],
            serde_json::json!(statuses)
        );
        let priority = param("getTasksFilter", "priority");
        assert_eq!(
            (priority["minimum"].clone(), priority["maximum"].clone()),
            (1.into(), 3.into())
        );
        assert_eq!(param("getTasksFilter", "group_id")["type"], "integer");
        assert_eq!(param("getTasksSearch", "q")["minLength"], 1);
        assert_eq!(param("postAdminSync", "discard_pending")["type"], "boolean");
        assert_eq!(
            param("postAdminSync", "action")["enum"],
            serde_json::json!(["force", "status", "backup", "restore", ""])
        );
    }
}
