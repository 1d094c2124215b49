//! The operations of the API: one row each, in the router's order (see
//! [`crate::routes::api`]). A unit test holds the paths to the router's,
//! an integration test the methods.

use taskmaster_shared::domain::{Priority, TaskState};
use utoipa::openapi::path::HttpMethod;

use crate::routes::admin::ACTIONS;
use crate::routes::tasks::STATUS_FILTERS;

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
}

/// One query parameter.
pub(super) struct Param {
    pub(super) name: &'static str,
    pub(super) required: bool,
    pub(super) kind: Kind,
    pub(super) description: &'static str,
}

const fn param(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param {
        name,
        required: false,
        kind,
        description,
    }
}

/// The filters every task list takes.
const STATE_FILTER: Param = param(
    "state",
    Kind::OneOf(&TaskState::NAMES),
    "Only tasks in this state",
);
const LABEL_FILTER: Param = param(
    "label",
    Kind::Label,
    "Only tasks carrying this label (exactly as stored)",
);
const TASK_FILTERS: [Param; 2] = [STATE_FILTER, LABEL_FILTER];

/// The required, non-blank `q` of the searches.
const fn search(description: &'static str) -> Param {
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
    /// Its query parameters.
    pub(super) query: &'static [Param],
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
}

/// A success answer that names a row: every operation under `under` whose
/// path parameters are all in `params` can be called with them next.
pub(super) struct Leads {
    pub(super) under: &'static str,
    /// Path parameter and the runtime expression that gives its value.
    pub(super) params: &'static [(&'static str, &'static str)],
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
        body_optional: false,
        ok: (200, None),
        raw: None,
        errors: &[],
        refusal: None,
        leads_to: None,
    }
}

impl Operation {
    const fn answers(mut self, status: u16, data: &'static str) -> Self {
        self.ok = (status, Some(data));
        self
    }
    /// Succeeds with `status` and no body.
    const fn answers_nothing(mut self, status: u16) -> Self {
        self.ok = (status, None);
        self
    }
    const fn takes(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }
    /// Takes `body`, or nothing.
    const fn may_take(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self.body_optional = true;
        self
    }
    const fn query(mut self, query: &'static [Param]) -> Self {
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
    /// Its success answer names a row that the operations under `under`
    /// take (see [`Leads`]).
    const fn leads_to(
        mut self,
        under: &'static str,
        params: &'static [(&'static str, &'static str)],
    ) -> Self {
        self.leads_to = Some(Leads { under, params });
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
    .query(&[param(
        "cookie",
        Kind::Flag,
        "`true`: the session goes into HTTP-only cookies (the answer holds the CSRF token instead of the tokens); the default is SESSION_COOKIES",
    )])
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
    .query(&[param(
        "all",
        Kind::Flag,
        "`true` ends every session of the caller, however this request authenticated",
    )])
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
    .leads_to("/users/{id}", &[("id", "$response.body#/data/user/id")])
    .errors(&[400, 403, 409, 413, 422]),
    op(
        Get,
        "/users/search",
        "users",
        "Search users by name or email",
    )
    .query(&[search(
        "Text to find in full names and emails (case-insensitive; blank is 400)",
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
    .query(&TASK_FILTERS)
    .answers(200, "UserTasks")
    .errors(&[400, 403, 404, 422]),
    op(
        Post,
        "/users/{id}/tasks",
        "tasks",
        "Create a task for a user, in one of its groups",
    )
    .takes("CreateTask")
    .answers(201, "TaskMessage")
    .leads_to(
        "/users/{id}/tasks/{tid}",
        &[
            ("id", "$response.body#/data/task/user_id"),
            ("tid", "$response.body#/data/task/id"),
        ],
    )
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
    op(Get, "/groups/{id}/tasks", "groups", "A group's tasks")
        .query(&TASK_FILTERS)
        .answers(200, "GroupTasks")
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
        "Rename a label on every task of the group, in one step (owner, group admin)",
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
    .query(&[search(
        "Text to find in titles and notes (case-insensitive; blank is 400)",
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
        param(
            "status",
            Kind::OneOf(&STATUS_FILTERS),
            "`completed`, `pending`, or `all` (the same as leaving it out)",
        ),
        param(
            "priority",
            Kind::Range(Priority::HIGHEST, Priority::LOWEST),
            "1 (high), 2 or 3 (low)",
        ),
        param("group_id", Kind::Id, "Only this group's tasks"),
        param(
            "user_id",
            Kind::Id,
            "Only this user's tasks (none unless the caller may see them)",
        ),
        STATE_FILTER,
        LABEL_FILTER,
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
