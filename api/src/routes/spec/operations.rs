//! The operations of the API: one row each, in the router's order (see
//! [`crate::routes::api`]). A unit test holds the paths to the router's,
//! an integration test the methods. A row's type and its builder are in
//! `row.rs`, the parameters several rows share in `params.rs`.

use utoipa::openapi::path::HttpMethod;

use super::params::*;
use super::row::{Kind, Operation, op, param};
use crate::routes::admin::ACTIONS;

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
        Post,
        "/auth/register",
        "accounts",
        "Register an account (a plain user), when REGISTRATION allows it",
    )
    .public()
    .takes("Register")
    .answers(201, "UserMessage")
    .errors(&[400, 403, 409, 413, 422, 429, 500, 503]),
    op(
        Post,
        "/auth/login",
        "accounts",
        "Open a session: an access token and a refresh token",
    )
    .public()
    .query(&[&[param(
        "cookie",
        Kind::Flag,
        "`true`: the session goes into HTTP-only cookies (the answer holds the CSRF token instead of the tokens); the default is SESSION_COOKIES",
    )]])
    .takes("Login")
    .answers(200, "SessionAnswer")
    .errors(&[400, 401, 403, 413, 422, 429, 500, 503]),
    op(
        Post,
        "/auth/refresh",
        "accounts",
        "Trade a refresh token for a new pair (once: a second use ends the session)",
    )
    .public()
    .may_take("Refresh")
    .answers(200, "SessionAnswer")
    .errors(&[400, 401, 403, 413, 422, 429, 500, 503]),
    op(
        Post,
        "/auth/logout",
        "accounts",
        "End this session, or every session of the caller",
    )
    .query(&[&[param(
        "all",
        Kind::Flag,
        "`true` ends every session of the caller, however this request authenticated",
    )]])
    .answers_nothing(204)
    .errors(&[400]),
    op(
        Get,
        "/auth/me",
        "accounts",
        "Who the caller is: its account, role, groups administered, and how it authenticated",
    )
    .answers(200, "Me"),
    op(
        Post,
        "/auth/ws-ticket",
        "feed",
        "A single-use ticket for GET /ws, valid 30 s: browsers cannot set headers on a WebSocket, and long-lived tokens never go in URLs",
    )
    .answers(200, "WsTicket"),
    op(
        Get,
        "/auth/tokens",
        "accounts",
        "The caller's personal API tokens, newest first (never their secrets)",
    )
    .answers(200, "ApiTokenList")
    .errors(&[400]),
    op(
        Post,
        "/auth/tokens",
        "accounts",
        "Make a personal API token (its text is shown once); with a password or a session, not with another token",
    )
    .takes("CreateToken")
    .answers(201, "ApiTokenCreated")
    .leads_to("/auth/tokens/{id}", &[("id", "$response.body#/data/api_token/id")])
    .errors(&[400, 403, 409, 413, 422]),
    op(
        Delete,
        "/auth/tokens/{id}",
        "accounts",
        "Revoke one of the caller's personal API tokens, at once on every instance",
    )
    .answers_nothing(204)
    .errors(&[400, 403, 404]),
    op(
        Get,
        "/users",
        "users",
        "The users the caller may list (owner: all; group admin: itself and its groups' members)",
    )
    .query(ID_LIST)
    .answers(200, "UserList")
    .paged()
    .errors(&[403, 422]),
    op(
        Post,
        "/users",
        "users",
        "Create a user (owner; a group admin creates plain users)",
    )
    .takes("CreateUser")
    .answers(201, "UserMessage")
    .idempotent()
    .leads_to("/users/{id}", &[("id", "$response.body#/data/user/id")])
    .errors(&[400, 403, 409, 413, 422]),
    op(
        Get,
        "/users/search",
        "users",
        "Search users by name or email",
    )
    .query(USER_SEARCH)
    .answers(200, "UserSearch")
    .paged()
    .errors(&[400, 403, 422]),
    op(Get, "/users/{id}", "users", "One user")
        .answers(200, "User")
        .errors(&[400, 403, 404]),
    op(Put, "/users/{id}", "users", "Change a user")
        .takes("UpdateUser")
        .answers(200, "UserMessage")
        .conditional()
        .errors(&[400, 403, 404, 409, 413, 422]),
    op(
        Delete,
        "/users/{id}",
        "users",
        "Delete a user and its tasks",
    )
    .answers(200, "UserMessage")
    .conditional()
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
        "A user's tasks: all, by id, or a page in the order asked for",
    )
    .query(TASK_LIST)
    .answers(200, "UserTasks")
    .paged()
    .errors(&[400, 403, 404, 422]),
    op(
        Get,
        "/users/{id}/tasks/export",
        "tasks",
        "Every task of a user the caller may see, by id, as CSV or JSON, streamed",
    )
    .query(TASK_EXPORT)
    .answers(200, "UserTasksExport")
    .csv()
    .errors(&[400, 403, 404, 422]),
    op(
        Post,
        "/users/{id}/tasks/import",
        "tasks",
        "Import tasks for a user from a CSV file: checked as creates, all or nothing by default; large files run as a job",
    )
    .query(TASK_IMPORT)
    .upload()
    .answers(201, "ImportJob")
    .idempotent()
    .leads_to("/jobs/{id}", &[("id", "$response.body#/data/id")])
    .errors(&[400, 403, 404, 409, 413, 415, 422]),
    op(
        Post,
        "/users/{id}/tasks",
        "tasks",
        "Create a task for a user, in one of its groups",
    )
    .takes("CreateTask")
    .answers(201, "TaskMessage")
    .idempotent()
    .leads_to(
        "/users/{id}/tasks/{tid}",
        &[
            ("id", "$response.body#/data/task/user_id"),
            ("tid", "$response.body#/data/task/id"),
        ],
    )
    .errors(&[400, 403, 404, 409, 413, 422]),
    op(Get, "/users/{id}/tasks/{tid}", "tasks", "One task")
        .answers(200, "Task")
        .errors(&[400, 403, 404]),
    op(Put, "/users/{id}/tasks/{tid}", "tasks", "Change a task")
        .takes("TaskChanges")
        .answers(200, "TaskMessage")
        .conditional()
        .errors(&[400, 403, 404, 409, 413, 422]),
    op(Delete, "/users/{id}/tasks/{tid}", "tasks", "Delete a task")
        .answers(200, "TaskMessage")
        .conditional()
        .errors(&[400, 403, 404]),
    op(
        Put,
        "/users/{id}/tasks/{tid}/done",
        "tasks",
        "Mark a task done",
    )
    .answers(200, "TaskMessage")
    .conditional()
    .errors(&[400, 403, 404]),
    op(
        Get,
        "/users/{id}/tasks/{tid}/history",
        "tasks",
        "The task's audit records, newest first (whoever may read the task)",
    )
    .query(AUDIT_PAGING)
    .answers(200, "AuditPage")
    .errors(&[400, 403, 404, 422, 503]),
    op(
        Get,
        "/groups",
        "groups",
        "The groups the caller belongs to or administers (owner: all)",
    )
    .query(ID_LIST)
    .answers(200, "GroupList")
    .paged()
    .errors(&[422]),
    op(Post, "/groups", "groups", "Create a group (owner)")
        .takes("CreateGroup")
        .answers(201, "GroupMessage")
        .idempotent()
        .leads_to("/groups/{id}", &[("id", "$response.body#/data/group/id")])
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
    .conditional()
    .errors(&[400, 403, 404, 409, 413, 422]),
    op(
        Delete,
        "/groups/{id}",
        "groups",
        "Delete a group and its tasks (owner)",
    )
    .answers(200, "GroupDeleted")
    .conditional()
    .errors(&[400, 403, 404]),
    op(
        Get,
        "/groups/{id}/users",
        "groups",
        "A group's members (plain members see ids and names)",
    )
    .query(ID_LIST)
    .answers(200, "MemberList")
    .paged()
    .errors(&[400, 403, 404, 422]),
    op(Post, "/groups/{id}/users", "groups", "Add a member")
        .takes("AddMember")
        .answers(200, "MemberAdded")
        .leads_to(
            "/groups/{id}/users/{uid}",
            &[
                ("id", "$response.body#/data/group_id"),
                ("uid", "$response.body#/data/user_id"),
            ],
        )
        .errors(&[400, 403, 404, 409, 413, 422]),
    op(
        Delete,
        "/groups/{id}/users/{uid}",
        "groups",
        "Remove a member and its tasks in the group",
    )
    .answers(200, "MemberRemoved")
    .errors(&[400, 403, 404, 409]),
    op(
        Get,
        "/groups/{id}/tasks",
        "groups",
        "A group's tasks the caller may see: all, by id, or a page in the order asked for",
    )
        .query(TASK_LIST)
        .answers(200, "GroupTasks")
        .paged()
        .errors(&[400, 403, 404, 422]),
    op(
        Get,
        "/groups/{id}/tasks/export",
        "groups",
        "Every task of a group the caller may see, by id, as CSV or JSON, streamed",
    )
    .query(TASK_EXPORT)
    .answers(200, "GroupTasksExport")
    .csv()
    .errors(&[400, 403, 404, 422]),
    op(Get, "/groups/{id}/stats", "groups", "A group's task counts")
        .answers(200, "GroupStats")
        .errors(&[400, 403, 404]),
    op(
        Get,
        "/groups/{id}/labels",
        "groups",
        "The labels in use on the group's tasks the caller may see",
    )
    .answers(200, "GroupLabels")
    .errors(&[400, 403, 404]),
    op(
        Post,
        "/groups/{id}/labels/rename",
        "groups",
        "Rename a label on every task of the group, each task atomically (owner, group admin)",
    )
    .takes("RenameLabel")
    .answers(200, "LabelRenamed")
    .errors(&[400, 403, 404, 413, 422]),
    op(
        Get,
        "/tasks/search",
        "tasks",
        "Search the tasks the caller may see",
    )
    .query(TASK_SEARCH)
    .answers(200, "TaskSearch")
    .paged()
    .errors(&[400, 403, 422]),
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
    .refused_with("BatchErrorBody")
    .errors(&[400, 403, 404, 409, 413, 422]),
    op(
        Get,
        "/tasks/filter",
        "tasks",
        "Filter the tasks the caller may see",
    )
    .query(TASK_FILTER)
    .answers(200, "FilterResult")
    .paged()
    .errors(&[403, 422]),
    op(
        Get,
        "/jobs/{id}",
        "tasks",
        "A background job (an import) as it stands: its creator and the owner only",
    )
    .answers(200, "ImportJob")
    .errors(&[400, 404]),
    op(
        Delete,
        "/jobs/{id}",
        "tasks",
        "Cancel a job: a partial import keeps what it wrote, an all-or-nothing one undoes it",
    )
    .answers(200, "ImportJob")
    .errors(&[400, 404, 409]),
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
    .query(&[&[
        param(
            "action",
            Kind::OneOf(&ACTIONS),
            "What to ask syncd for; `force` (a flush) when left out",
        ),
        param(
            "from",
            Kind::Text,
            "restore: a backup file in BACKUP_DIR to load first",
        ),
        param(
            "discard_pending",
            Kind::Flag,
            "restore: `true` drops pending changes PostgreSQL refuses (saved to a file first)",
        ),
    ]])
    .raw("SyncDone")
    .errors(&[400, 403, 409, 502, 504]),
    op(
        Get,
        "/admin/audit",
        "operations",
        "The audit log, newest first: one record per change (owner)",
    )
    .query(&[&[
        param("actor", Kind::Text, "Only changes by this actor: a user id, `owner` or `system`"),
        param("entity", Kind::OneOf(&crate::audit::ENTITIES), "Only changes to this type"),
        param("id", Kind::Text, "Only changes to the row with this id"),
        AUDIT_SINCE,
        AUDIT_UNTIL,
        AUDIT_CURSOR,
        AUDIT_LIMIT,
    ]])
    .answers(200, "AuditPage")
    .paged()
    .errors(&[403, 422, 503]),
    op(
        Get,
        "/webhooks",
        "webhooks",
        "The webhooks the caller manages (owner: all; group admin: its groups'), never their secrets",
    )
    .answers(200, "WebhookList")
    .errors(&[403]),
    op(
        Post,
        "/webhooks",
        "webhooks",
        "Register a webhook: the owner's for every event, or a group admin's for a group it administers (the secret is shown once)",
    )
    .takes("CreateWebhook")
    .answers(201, "WebhookCreated")
    .leads_to("/webhooks/{id}", &[("id", "$response.body#/data/webhook/id")])
    .errors(&[400, 403, 404, 409, 413, 422]),
    op(Get, "/webhooks/{id}", "webhooks", "One webhook the caller manages")
        .answers(200, "Webhook")
        .errors(&[400, 403, 404]),
    op(
        Put,
        "/webhooks/{id}",
        "webhooks",
        "Change a webhook's URL, events, secret (rotation) or active flag",
    )
    .takes("UpdateWebhook")
    .answers(200, "WebhookMessage")
    .errors(&[400, 403, 404, 413, 422]),
    op(Delete, "/webhooks/{id}", "webhooks", "Delete a webhook")
        .answers(200, "WebhookMessage")
        .errors(&[400, 403, 404]),
    op(
        Get,
        "/webhooks/{id}/deliveries",
        "webhooks",
        "The hook's newest 100 deliveries: status, attempts, last response code, duration and error, next attempt",
    )
    .answers(200, "WebhookDeliveries")
    .errors(&[400, 403, 404]),
    op(
        Post,
        "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        "webhooks",
        "Send a delivery again, now (a dead letter too), with a new retry window",
    )
    .answers(202, "Redelivery")
    .errors(&[400, 403, 404]),
    op(
        Get,
        "/changes",
        "feed",
        "The change log after a position, as the caller may see it, oldest first (without `since`: no entries and the current position)",
    )
    .query(&[&[
        param("since", Kind::Position, "Go on after this position (a `next` or an entry's `id`)"),
        param("cursor", Kind::Position, "`since` by the name the other lists use (a `next_cursor`); not with `since`"),
        param("limit", Kind::Range(1, 1000), "Entries at most (default 100)"),
        FEED_TYPES,
        FEED_GROUP,
    ]])
    .answers(200, "ChangesPage")
    .paged()
    .errors(&[400, 410, 422]),
    op(
        Get,
        "/events",
        "feed",
        "The live feed as Server-Sent Events (`id` is the position; resumes after `Last-Event-ID`)",
    )
    .query(&[&[
        param("since", Kind::Position, "Go on after this position (`Last-Event-ID` wins)"),
        FEED_TYPES,
        FEED_GROUP,
    ]])
    .streams("text/event-stream", "FeedMessage")
    .errors(&[400, 410, 422, 429]),
    op(
        Get,
        "/ws",
        "feed",
        "The live feed as a WebSocket (with the request's credentials or `?ticket=`); send {\"resume_from\":…} or {\"types\":…,\"group\":…} any time",
    )
    .query(&[&[
        param("ticket", Kind::Text, "A ticket from POST /auth/ws-ticket"),
        param("resume_from", Kind::Position, "Go on after this position"),
        FEED_TYPES,
        FEED_GROUP,
    ]])
    .answers_nothing(101)
    .errors(&[400, 410, 422, 429]),
    op(
        Get,
        "/metrics",
        "operations",
        "Prometheus metrics of this api process: callers on this machine only (not through a proxy), or with `Authorization: Bearer` METRICS_TOKEN",
    )
    .public()
    .text(
        "text/plain",
        "The Prometheus text format (version 0.0.4)",
    )
    .errors(&[401, 403, 404]),
    op(
        Get,
        "/status",
        "operations",
        "The status dashboard: a page that signs the owner in and shows the system's state live",
    )
    .public()
    .text("text/html", "The page, with its script and charts built in"),
    op(
        Get,
        "/status/data",
        "operations",
        "What the status dashboard shows: this api's request totals, the write-behind, the stores and the last backups (the owner's)",
    )
    .answers(200, "StatusData")
    .errors(&[401, 403, 503]),
];
