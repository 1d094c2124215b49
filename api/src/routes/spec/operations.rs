//! The operations of the API: one row each, in the router's order (see
//! [`crate::routes::api`]). A unit test holds the paths to the router's,
//! an integration test the methods.

use utoipa::openapi::path::HttpMethod;

/// One operation of the API.
pub struct Operation {
    pub method: HttpMethod,
    pub path: &'static str,
    pub(super) tag: &'static str,
    pub(super) summary: &'static str,
    /// Needs credentials (every operation but the public ones).
    pub(super) auth: bool,
    /// Query parameters: name, required, description.
    pub(super) query: &'static [(&'static str, bool, &'static str)],
    /// The request body's schema.
    pub(super) body: Option<&'static str>,
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
        refusal: None,
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
    /// Its 403 and 404 answer `schema` (a refused batch lists every reason).
    const fn refused_with(mut self, schema: &'static str) -> Self {
        self.refusal = Some(schema);
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
    .refused_with("BatchErrorBody")
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
