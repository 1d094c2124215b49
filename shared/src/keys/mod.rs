//! The Redis key layout: the one module that names keys and channels.
//!
//! The api writes these keys, syncd reads them, and operators inspect them
//! with `redis-cli`, so this layout is a contract. Change it only together
//! with a migration note in `docs/design.md`.
//!
//! Every name starts with a prefix `P` (`REDIS_KEY_PREFIX`, default `tm:`),
//! so that several deployments, or the test suite's cases, share one server.
//! The Redis ACL users (`deploy/redis/users.acl.template`) may touch keys
//! and channels under the prefix only: a new key outside it would be
//! refused to both processes.
//!
//! ## Rows (a hash each; a task is one JSON string)
//!
//! | key | type | fields |
//! |---|---|---|
//! | `P user:{id}` | hash | `id full_name email role number pw work_times active created_at updated_at tv` (`active` is `1`, or `0` once deactivated (absent on rows made before deactivation existed: active); `pw` is the argon2id PHC string, `work_times` JSON; `tv` the task-list version, bumped by every write that adds, changes or deletes one of the user's tasks, absent until the first; a restore sets it to its epoch, so it never repeats an earlier value; a crash of Redis's host under `everysec` can take it back, which is why the api keys its kept lists by it and its pool's dials (`api/src/lists.rs`)) |
//! | `P user:{id}:cv` | string | the user's credential version: 1 at creation, Redis's clock in µs at every password or role change (or one more than before, if larger: never a number a change lost in a crash of Redis's host had, see `bump_cv` in `api/src/store/lua/common.lua`), set to the epoch by a restore, deleted with the user; `0` while the user is deactivated (no credential of it passes), Redis's clock in µs when it is reactivated (larger than any version it had, so no earlier session or remembered password is current again). A string of its own so that a request of a remembered credential reads it together with the row it is about in one `MGET` |
//! | `P group:{id}` | hash | `id name admin_id created_at updated_at` |
//! | `P token:{id}` | string | a personal API token (`{id}`: 22 base64url characters): `{uid} {role} {read_only} {expires ms} {digest} {created ms} {last used ms} {name}` (see `crate::api_token`). Durable: written behind with its user (dirty as `user` `{uid}`), so a flush rewrites a user's tokens with its row |
//! | `P webhook:{id}` | hash | `id group url events secret active created_by created_at updated_at`: a registered webhook (`group` empty for the owner's global hooks; `events` comma-separated, sorted; `secret` the HMAC key its deliveries are signed with, never answered; `active` `1` or `0`; `created_by` empty for the owner header). Durable: written behind as its own row type |
//! | `P task:{id}` | string | the task's JSON, exactly as answered: `{"id","title","status","priority","deadline","information","user_id","group_id","created_at","updated_at","state","created_by","labels","completed_at"}` in that order, `completed_at` last (reads pass it through; scripts decode and re-encode it atomically). Rows written before `state` existed end at `updated_at`: they are read as `state` `done` or `todo` by their `status`, no creator, no labels, and answered in the current shape (see `docs/design.md`, "Upgrading task rows") |
//!
//! ## Indexes (maintained in the same atomic step as the row)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P users` / `P groups` / `P webhooks` | set | ids of all rows of that type (there is no set of all tasks: the owner's views read every task by id from `P seq:tasks`, ids being handed out in order and never reused; see `api/src/store/task_scan.rs`) |
//! | `P user:{id}:groups` | set | ids of the groups the user is a member of |
//! | `P user:{id}:tasks` | set | ids of the user's tasks |
//! | `P user:{id}:admin_of` | set | ids of the groups whose `admin_id` is the user |
//! | `P user:{id}:tokens` | set | ids of the user's personal API tokens (at most 50) |
//! | `P group:{id}:members` | set | ids of the group's members |
//! | `P group:{id}:tasks` | set | ids of the tasks in the group |
//! | `P user:{id}:order` / `P group:{id}:order` | sorted set | the user's / the group's tasks by id: one `i{id}` member per task (id in 16 digits), score 0, so that a page is one `ZRANGE … BYLEX` (see `crate::order`). Only once its list was read in pages (see `…:sorts`) |
//! | `P user:{id}:order:{p,d,u}` / `P group:{id}:order:{p,d,u}` | sorted set | the same tasks by priority (`p{priority}{id}`), deadline (`d{deadline or ~}{id}`) or update time (`u{updated_at, six fraction digits}{id}`), score 0. Only once its list was read in that order |
//! | `P user:{id}:sorts` / `P group:{id}:sorts` | hash | the order indexes the user or group keeps: kind (`i`, `p`, `d`, `u`) → `ready`, or the `SSCAN` cursor of its `…:tasks` set the index's build has reached. A list's first page in an order builds its index (`api/src/store/lua/sort_build.lua`, in steps of ~250 tasks), and every task write keeps the indexes named here from the build's first step on: a write pays for the orders somebody reads and for no other. Derived: neither written behind nor restored (the next read builds again) |
//! | `P group:{id}:webhooks` | set | ids of the group's webhooks (they go with the group) |
//! | `P group:{id}:labels` | hash | label → how many of the group's tasks carry it (a label leaves with its last task) |
//! | `P group:{id}:label:{label}` | set | ids of the group's tasks that carry the label (`{label}` as stored: 1 to 50 characters, no control characters); a group-wide rename reads it |
//! | `P idx:email` | hash | lower-cased email → user id |
//! | `P idx:group_name` | hash | lower-cased group name → group id |
//! | `P seq:{users,groups,tasks,webhooks}` | string | last id handed out (INCR; never decreases) |
//!
//! ## Write-behind (api → syncd)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P dirty:{users,groups,tasks,webhooks}` | set | ids changed since the last flush, deletes included; a user row includes its memberships and its personal API tokens |
//! | `P inflight:{users,groups,tasks,webhooks}` | set | ids taken by the flush in progress (renamed from `dirty:*`; merged back after a crash); taken and cleared only by the lease holder, checked in the same script |
//! | `P dirty:since` | string | RFC 3339 time of the oldest change in `dirty:*` (`SET NX` by every dirty mark, in the write's own step) |
//! | `P inflight:since` | string | the same for `inflight:*`: moved from `dirty:since` by the hand-off, deleted with the in-flight sets. The write-behind lag is now minus the older of the two |
//! | `P inflight:handoff` / `P meta:handoffs` | string | the number of the hand-off whose ids are in flight (set by the hand-off, deleted with the in-flight sets) / the last number handed out (INCR by each hand-off that takes ids; kept by a restore and raised to PostgreSQL's `sync_state.last_handoff` by a rebuild). The flush records its number in PostgreSQL; after a Redis restart that lost a committed flush's clear, syncd compares them to know which pending rows are newer than PostgreSQL's (`syncd/src/reconcile.rs`) |

//! ## The change log
//!
//! `P changes` is a stream: every write script appends one entry per row it
//! changes, in the same atomic step as the row, its indexes and its dirty
//! mark, so the log holds a write exactly when it happened and its order is
//! the commit order. Entry ids are Redis's (`{ms}-{seq}`); they are the
//! positions clients resume from. Every entry has these fields:
//!
//! | field | holds |
//! |---|---|
//! | `type` | `task`, `user`, `group`; `token` (a personal API token made or revoked), `session` (login sessions ended); `reset` (a restore replaced the data) |
//! | `op` | `created`, `updated`, `deleted` (`reset`: `restored`) |
//! | `id` | the row's id (a token's id; a session entry's user id) |
//! | `actor` | who wrote: a user id, `owner` (the owner header), `anonymous` (a request that did not authenticate: a registration), `system` (the api outside a request, syncd) |
//! | `auth` | how the actor authenticated: `session`, `cookie`, `token`, `basic`, `owner_header`; `none` (anonymous), `system` |
//! | `token` | the login session's id or the personal token's, `-` for none (never a secret) |
//! | `request` | the request id (`X-Request-Id`), `-` outside a request |
//! | `at` | the write's time (RFC 3339) |
//!
//! and, by type, what a reader needs to decide who may see it without a
//! lookup:
//!
//! | type | fields |
//! |---|---|
//! | `task` | `user`, `group` (after the write; a delete's before it), `old_group` when the task moved, `row` (its JSON as `P task:{id}`, after the write; a delete's before it) |
//! | `user` | `groups`: comma-separated ids of the groups it is in, and of those it left in this write; `row` (a delete's as it was): its hash fields as a JSON object of strings without `pw`, `email_key` and `tv`, and `groups` its groups after the write, comma-separated |
//! | `group` | `row` (a delete's as it was): its hash fields as a JSON object of strings without `name_key` |
//! | `token`, `session` | `user`: whose credential changed (never delivered to clients: the api closes the live feeds that stood on it) |
//!
//! and an update (of a task, user or group) has `changes`, for the audit
//! log: a JSON object `{"field": [old, new]}` of the fields that changed
//! (`updated_at` and the bookkeeping fields left out). A task's are typed
//! as in its row; a user's or group's are the hash's strings (`groups` as
//! above), but a changed password hash, which is only
//! `"password": "changed"`.
//!
//! syncd reads the stream as the consumer group `webhooks` too, and turns
//! each task, user or group entry into one delivery per hook that wants it
//! (created and acknowledged in one script: `P webhook_delivery:*` below).
//! syncd reads the stream as the consumer group `audit` (consumer
//! `syncd`), appends each entry to PostgreSQL's `audit_log` and
//! acknowledges it only after that commit; the api serves the entries not
//! yet acknowledged from the stream and asks syncd for the rest (see
//! `shared/src/audit.rs`).
//!
//! The api reads the stream once per process and fans it out to its
//! WebSocket and SSE clients, filtered by what each may read; `GET
//! /changes` pages through it. syncd blocks on it to wake for
//! `SYNC_MAX_PENDING` (the dirty sets stay the truth) and trims it: entries
//! older than `CHANGES_RETAIN`, never one a consumer group has not been
//! given and acknowledged. `P changes:trimmed` names the newest entry a
//! trim removed: a client resuming from a position before it has missed
//! entries (410). A restore empties the log and appends one `reset` entry.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P changes` | stream | the change log (above) |
//! | `P changes:trimmed` | string | the id of the newest entry syncd trimmed from the log (`XTRIM` leaves the stream's `max-deleted-entry-id` alone); kept by a restore |
//! | `P webhook_delivery:{delivery id}` | hash | one webhook delivery (id `{entry position}.{hook id}`: one per event per hook): `hook event payload status attempts created_ms next_ms last_code last_ms last_error last_at`; `status` is `pending`, `delivered`, `dead` (given up after `WEBHOOK_RETRY_WINDOW`) or `cancelled` (the hook was deleted or deactivated); expires 7 days after it ends. Not durable: a delivery queue, like the log it comes from |
//! | `P webhook:{id}:deliveries` | list | the hook's newest delivery ids, first first (at most 100) |
//! | `P webhooks:due:{hook id}` | sorted set | the hook's deliveries not yet done: delivery id → when it is due (ms), or, while a worker sends it, when its claim lapses (a crashed worker's delivery is sent again). One per hook, so that a hook with a long queue never hides another's due deliveries |
//! | `P webhooks:due_hooks` | set | ids of the hooks whose queue is not empty |
//! | `P webhooks:dropped:{hook id}` | string | deliveries not made because the hook's queue was full (`WEBHOOK_QUEUE_MAX`), so that a receiver down for long cannot fill Redis |
//! | `P idem:{principal}:{key digest}` | hash (TTL 24 h) | a create made under an `Idempotency-Key` by one principal (`owner`, a user id): `digest` of the request (BLAKE2b-256 hex of its method, path and body), `id` of the row it made (both set by the create script, in the step that makes the row, so that a retry never creates twice), `body` the answer it got (set just after; a retry replays it, or the row's answer when it is missing). `{key digest}`: BLAKE2b-256 hex of the key. Not durable: like the sessions, a Redis loss forgets them |
//! | `P ws_ticket:{hash}` | string (TTL 30 s) | a single-use WebSocket ticket (`POST /auth/ws-ticket`), by the BLAKE2b-256 hex of its text: the credential it stands for (see `api/src/feed/ticket.rs`) |
//!
//! ## Operations
//!
//! | key | type | holds |
//! |---|---|---|
//! | channel `P control` | pub/sub | control requests `{"id","action","args","reply_to","issued_at","sig"}` to syncd, signed with `CONTROL_SECRET` (HMAC-SHA256; syncd refuses others) |
//! | channel `P control:reply:{request id}` | pub/sub | the single answer to one request |
//! | `P syncd:status` | string (JSON, TTL) | syncd's heartbeat and last flush result |
//! | `P syncd:lease` | string (TTL) | `{instance}|{token}` of the active syncd; the flush's hand-off and clear and every step of a rebuild (`syncd/src/lua/fenced_batch.lua`) check it in the same script |
//! | `P syncd:fence` | string | last fencing token handed out (INCR) |
//! | `P maintenance` | string | present while a restore runs; the api answers 503; lifted only by the daemon that set it (its value names the microsecond it was set) |
//! | `P leaving` | hash | leaves of a group whose tasks are still moving: `{uid}:{gid}` → `{u|g} {cursor} {unix seconds}`, the set whose `SSCAN` finds the user's tasks in the group (the user's `u`, the group's `g`: the smaller), how far it got, and when its last step ran. A member's removal takes the membership at once and moves the tasks in steps of at most 100 (`leave_step` in `api/src/store/lua/leave.lua`), so the request that removed it runs the steps and deletes the record at the last; an api resumes a record no step touched for 10 seconds (one stopped midway). Not durable: a restore writes one for each user whose tasks lie in a group it is not in, so the leave finishes after it too |
//! | `P job:{id}` | hash | a background job (`POST /users/{id}/tasks/import` of more than `IMPORT_SYNC_ROWS` rows, and every import while it runs): `id kind status phase mode user creator admin group context rows_total done created failed errors_total unknown_columns ignored_columns token beat claims created_at started_at finished_at reason undo_to`. `status`: `queued`, `running`, `undoing` (an all-or-nothing import deleting what it made), `done`, `failed`, `cancelled`; `done` the rows before the next to write (the cursor); `token` its holder's (the api running it), `beat` that holder's last heartbeat (ms, Redis's clock): an api takes over a job whose beat is 10 s old (`api/src/import/job.rs`). The job's steps (`import_step.lua`: its creates, exactly as `create_tasks.lua` makes them, and its progress, in one step) refuse a token that is not the job's. Expires 7 days after it ends. Not durable: a Redis loss or a restore forgets every job (the rows it wrote are tasks like any other) |
//! | `P job:{id}:file` | string | the file an active import reads (so that another api can take the job over); deleted when it ends. Stored first as `P job:upload:{token}` (TTL 1 h) by a plain `SET`, which Redis takes without copying, and renamed by the script that opens the job |
//! | `P job:{id}:errors` | list | the first 100 rows it reports: `{"row","field","message"}` (found by the api before the job opened) or `{"row","code"}` (refused by a create step) |
//! | `P job:{id}:made` | list | ids of the rows an all-or-nothing import made so far, undone if it fails or is cancelled; deleted when it ends |
//! | `P jobs:active` / `P jobs:by:{principal}` | set | ids of the jobs not ended: all of them (what the apis look at for a job to take over) / one principal's (`owner` or a user id: at most 3 each) |
//! | `P seq:jobs` | string | last job id handed out; kept by a restore, but not durable (after a loss of Redis ids start again: no job outlives a restore; the `Idempotency-Key` records that name jobs do, and `job_open.lua` answers such a key sent again `JOB_GONE`, 409, rather than open its job twice) |
//! | `P meta:ids_run` | string | the run id of the Redis server on which syncd last checked the id counters against PostgreSQL; the create scripts refuse while it names another server (Redis restarted and may have lost its last second) |
//! | `P meta:order` | string | the layout of the order indexes, `2` (see `crate::order::LAYOUT`): set by a restore, or by the api's first start after retiring the indexes of earlier layouts, which every write kept for every user and group (`1`: every order in `…:order`; `P tasks:order`), in steps (`api/src/bootstrap.rs`) |
//! | `P meta:id_gaps` | sorted set | task ids the counter skipped and never handed out: members `{from}-{to}` scored `from`, added by syncd's check of a restarted Redis in the step that raises the counters (`syncd/src/lua/skip_ids.lua`), so that the owner's views, which read every task by id, step over them (`api/src/paging/every.rs`). One per restart; kept by a restore (ids only grow) |
//! | `P meta:flushes` | string | the number of the last flush whose clear this Redis saw (PostgreSQL's `sync_state.flushes` counts the committed ones); smaller than PostgreSQL's after a restart: Redis lost a flushed state, and syncd reconciles it |
//! | `P limit:user:{id}` | string (TTL) | login attempts on account `id`: the theoretical arrival time of GCRA, as `rate:*` below (counted before the password is checked; a success gives its attempt back); it expires once the burst is whole |
//! | `P limit:login:{hash}` | string (TTL) | the same for a login name with no account, keyed by a BLAKE2b hash of the name, so a key's size never depends on what a client sent |
//! | `P limit:owner:{ip}` / `P limit:owner:all` | string (TTL) | wrong `X-Owner-Password` values from one client address / from anywhere, counted with GCRA as `limit:user:*` |
//! | `P session:{sid}` | string (TTL: the refresh token's life) | a login session: `{uid} {cv} {role} {access expiry ms} {access hash} {previous access expiry ms} {previous access hash} {refresh hash}`, space-separated. `cv` is the credential version it was opened under. Whatever ends a session deletes its key in the same script (a password or role change, a deactivation, a deletion, a logout; a restore removes them all), so its existence is its validity; the hashes are BLAKE2b-256 hex of the token secrets, never the secrets. Not durable: a Redis loss or a restore ends every session (users log in again) |
//! | `P user:{id}:sessions` | sorted set (TTL, never shortened) | the user's session ids by opening time (ms): every live session is in it, so that whatever ends them all (`logout?all=true`, a password or role change, a deactivation, a deletion) finds them; pruned of dead ones and capped at each login |
//! | `P rate:user:{id}` / `P rate:token:{id}` / `P rate:owner` / `P rate:auth:{ip}` | string (TTL) | the rate limiter's state for one principal (a user with its password or sessions, a personal API token, the owner header) or, on `/auth/login`, `/auth/register` and `/auth/refresh`, one client address: the theoretical arrival time (ms, Redis's clock) of GCRA; it expires once the principal is back to a full burst. Not durable |
//! | `P meta:owner` | hash | `id` of the owner account made at first start (or adopted: the account holding `OWNER_EMAIL` when there was none), `pw` the hash it was given, `''` when not known (so a changed `OWNER_PASSWORD` can follow, but an owner-set password is never overwritten); a restore keeps it while the restored account still has that hash |

use std::fmt;

/// The row types written behind. Their plural name is used in keys and in
/// the `/admin` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowType {
    User,
    Group,
    Task,
    /// A registered webhook (see `P webhook:{id}`).
    Webhook,
}

impl RowType {
    pub const ALL: [RowType; 4] = [
        RowType::User,
        RowType::Group,
        RowType::Task,
        RowType::Webhook,
    ];

    /// `users`, `groups`, `tasks`, `webhooks`.
    pub fn plural(self) -> &'static str {
        match self {
            RowType::User => "users",
            RowType::Group => "groups",
            RowType::Task => "tasks",
            RowType::Webhook => "webhooks",
        }
    }

    /// `user`, `group`, `task`, `webhook`.
    pub fn singular(self) -> &'static str {
        match self {
            RowType::User => "user",
            RowType::Group => "group",
            RowType::Task => "task",
            RowType::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" | "users" => Some(RowType::User),
            "group" | "groups" => Some(RowType::Group),
            "task" | "tasks" => Some(RowType::Task),
            "webhook" | "webhooks" => Some(RowType::Webhook),
            _ => None,
        }
    }
}

/// Builds key and channel names under one prefix. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Keys {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn k(&self, rest: fmt::Arguments<'_>) -> String {
        let mut s = String::with_capacity(self.prefix.len() + 24);
        s.push_str(&self.prefix);
        fmt::write(&mut s, rest).expect("writing to a String cannot fail");
        s
    }

    /// `P user:{id}`, `P group:{id}`, `P task:{id}`.
    pub fn row(&self, t: RowType, id: u64) -> String {
        self.k(format_args!("{}:{id}", t.singular()))
    }

    /// `P users`, `P groups`: all ids of a type (never used for tasks).
    pub fn all(&self, t: RowType) -> String {
        self.k(format_args!("{}", t.plural()))
    }

    pub fn user_groups(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:groups"))
    }

    /// `P task:*`: the pattern `SORT … GET` uses to fetch task rows by id.
    pub fn task_row_pattern(&self) -> String {
        self.k(format_args!("task:*"))
    }

    pub fn user_tasks(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:tasks"))
    }

    /// `P user:{id}:order`: the user's tasks by id (see [`crate::order`]).
    pub fn user_order(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:order"))
    }

    /// `P user:{id}:order:{tag}`: the user's tasks in the order of the
    /// sort key tagged `tag` (`p`, `d`, `u`), once it is kept.
    pub fn user_sort(&self, user: u64, tag: char) -> String {
        self.k(format_args!("user:{user}:order:{tag}"))
    }

    /// `P user:{id}:sorts`: the orders the user's index keeps (tag → `ready`
    /// or the build's scan cursor).
    pub fn user_sorts(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:sorts"))
    }

    /// `P user:{id}:cv`: the credential version (see the layout above).
    pub fn user_cv(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:cv"))
    }

    /// `P user:{id}:tokens`: the user's personal API token ids.
    pub fn user_tokens(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:tokens"))
    }

    /// `P token:{id}`: one personal API token's record.
    pub fn api_token(&self, id: &str) -> String {
        self.k(format_args!("token:{id}"))
    }

    /// `P token:*`: the pattern `SORT … GET` uses to read a user's tokens.
    pub fn api_token_pattern(&self) -> String {
        self.k(format_args!("token:*"))
    }

    pub fn user_admin_of(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:admin_of"))
    }

    pub fn group_members(&self, group: u64) -> String {
        self.k(format_args!("group:{group}:members"))
    }

    pub fn group_tasks(&self, group: u64) -> String {
        self.k(format_args!("group:{group}:tasks"))
    }

    /// `P group:{id}:order`: the group's tasks by id (see [`crate::order`]).
    pub fn group_order(&self, group: u64) -> String {
        self.k(format_args!("group:{group}:order"))
    }

    /// `P group:{id}:order:{tag}`: as [`Keys::user_sort`], for a group.
    pub fn group_sort(&self, group: u64, tag: char) -> String {
        self.k(format_args!("group:{group}:order:{tag}"))
    }

    /// `P group:{id}:sorts`: as [`Keys::user_sorts`], for a group.
    pub fn group_sorts(&self, group: u64) -> String {
        self.k(format_args!("group:{group}:sorts"))
    }

    /// `P group:{id}:webhooks`: the group's webhooks.
    pub fn group_webhooks(&self, group: u64) -> String {
        self.k(format_args!("group:{group}:webhooks"))
    }

    /// `P group:{id}:labels`: label → how many of the group's tasks carry
    /// it.
    pub fn group_labels(&self, group: u64) -> String {
        self.k(format_args!("group:{group}:labels"))
    }

    /// `P group:{id}:label:{label}`: the group's tasks carrying `label`
    /// (the scripts spell it `k('group', gid, 'label', l)`).
    pub fn group_label(&self, group: u64, label: &str) -> String {
        self.k(format_args!("group:{group}:label:{label}"))
    }

    pub fn email_index(&self) -> String {
        self.k(format_args!("idx:email"))
    }

    pub fn group_name_index(&self) -> String {
        self.k(format_args!("idx:group_name"))
    }

    pub fn sequence(&self, t: RowType) -> String {
        self.k(format_args!("seq:{}", t.plural()))
    }

    pub fn dirty(&self, t: RowType) -> String {
        self.k(format_args!("dirty:{}", t.plural()))
    }

    pub fn inflight(&self, t: RowType) -> String {
        self.k(format_args!("inflight:{}", t.plural()))
    }

    /// When the oldest change in the dirty sets was made.
    pub fn dirty_since(&self) -> String {
        self.k(format_args!("dirty:since"))
    }

    /// When the oldest change in the in-flight sets was made.
    pub fn inflight_since(&self) -> String {
        self.k(format_args!("inflight:since"))
    }

    /// The number of the hand-off whose ids are in flight.
    pub fn inflight_handoff(&self) -> String {
        self.k(format_args!("inflight:handoff"))
    }

    /// `P meta:handoffs`: the last hand-off number handed out.
    pub fn handoffs(&self) -> String {
        self.k(format_args!("meta:handoffs"))
    }

    /// The change log: a stream with one entry per changed row (see the
    /// layout above).
    pub fn changes(&self) -> String {
        self.k(format_args!("changes"))
    }

    /// The consumer group syncd's audit log reads the change log as.
    pub const AUDIT_GROUP: &'static str = "audit";
    /// The consumer group syncd's webhook deliveries read it as.
    pub const WEBHOOK_GROUP: &'static str = "webhooks";

    /// `P webhook_delivery:{id}`.
    pub fn webhook_delivery(&self, id: &str) -> String {
        self.k(format_args!("webhook_delivery:{id}"))
    }

    /// `P webhook:{id}:deliveries`: the hook's newest deliveries.
    pub fn webhook_deliveries(&self, hook: u64) -> String {
        self.k(format_args!("webhook:{hook}:deliveries"))
    }

    /// `P webhooks:due:{hook}`: the hook's deliveries by the time they
    /// are due.
    pub fn webhooks_due(&self, hook: u64) -> String {
        self.k(format_args!("webhooks:due:{hook}"))
    }

    /// `P webhooks:due_hooks`: the hooks with deliveries not yet done.
    pub fn webhooks_due_hooks(&self) -> String {
        self.k(format_args!("webhooks:due_hooks"))
    }
    /// The group's one consumer name (every syncd instance reads as it:
    /// appending is idempotent, so sharing its pending entries is safe).
    pub const AUDIT_CONSUMER: &'static str = "syncd";

    /// A WebSocket ticket, by the BLAKE2b hash of its text.
    pub fn ws_ticket(&self, digest: &str) -> String {
        self.k(format_args!("ws_ticket:{digest}"))
    }

    /// The pub/sub channel syncd listens on for control requests.
    pub fn control_channel(&self) -> String {
        self.k(format_args!("control"))
    }

    /// The channel on which the answer to request `request_id` is published.
    pub fn control_reply_channel(&self, request_id: &str) -> String {
        self.k(format_args!("control:reply:{request_id}"))
    }

    pub fn syncd_status(&self) -> String {
        self.k(format_args!("syncd:status"))
    }

    pub fn syncd_lease(&self) -> String {
        self.k(format_args!("syncd:lease"))
    }

    pub fn syncd_fence(&self) -> String {
        self.k(format_args!("syncd:fence"))
    }

    pub fn owner_bootstrap(&self) -> String {
        self.k(format_args!("meta:owner"))
    }

    /// `P job:{id}`: a background job (an import).
    pub fn job(&self, id: u64) -> String {
        self.k(format_args!("job:{id}"))
    }

    /// `P job:{id}:file`: the file an import job reads.
    pub fn job_file(&self, id: u64) -> String {
        self.k(format_args!("job:{id}:file"))
    }

    /// `P job:upload:{token}`: an import's file until its job opens.
    pub fn job_upload(&self, token: &str) -> String {
        self.k(format_args!("job:upload:{token}"))
    }

    /// `P job:{id}:errors`: the first rows a job reports wrong.
    pub fn job_errors(&self, id: u64) -> String {
        self.k(format_args!("job:{id}:errors"))
    }

    /// `P jobs:active`: the jobs not ended.
    pub fn jobs_active(&self) -> String {
        self.k(format_args!("jobs:active"))
    }

    /// `P jobs:by:{principal}`: one principal's jobs not ended.
    pub fn jobs_by(&self, principal: &str) -> String {
        self.k(format_args!("jobs:by:{principal}"))
    }

    /// `P leaving`: leaves of a group whose tasks are still moving.
    pub fn leaving(&self) -> String {
        self.k(format_args!("leaving"))
    }

    pub fn maintenance(&self) -> String {
        self.k(format_args!("maintenance"))
    }

    /// `P meta:ids_run`: where the id counters were last checked.
    pub fn ids_run(&self) -> String {
        self.k(format_args!("meta:ids_run"))
    }

    /// `P idem:{principal}:{digest}`: a create made under an
    /// `Idempotency-Key` (see the layout above).
    pub fn idempotency(&self, principal: &str, key_digest: &str) -> String {
        self.k(format_args!("idem:{principal}:{key_digest}"))
    }

    /// `P meta:order`: the layout of the order indexes (see the table).
    pub fn order_built(&self) -> String {
        self.k(format_args!("meta:order"))
    }

    /// `P meta:id_gaps`: the task ids a counter skipped (see the layout).
    pub fn task_id_gaps(&self) -> String {
        self.k(format_args!("meta:id_gaps"))
    }

    /// `P meta:flushes`: the last flush this Redis saw cleared.
    pub fn flushes(&self) -> String {
        self.k(format_args!("meta:flushes"))
    }

    /// `P session:{sid}`: one login session (see the layout above).
    pub fn session(&self, sid: &str) -> String {
        self.k(format_args!("session:{sid}"))
    }

    /// `P session:`: what a session id follows, for the scripts that end
    /// all of a user's sessions.
    pub fn session_prefix(&self) -> String {
        self.k(format_args!("session:"))
    }

    /// `P user:{id}:sessions`: the user's session ids.
    pub fn user_sessions(&self, user: u64) -> String {
        self.k(format_args!("user:{user}:sessions"))
    }

    /// `P rate:user:{id}`: a user's rate-limit state.
    pub fn rate_user(&self, user: u64) -> String {
        self.k(format_args!("rate:user:{user}"))
    }

    /// `P rate:token:{id}`: a personal API token's rate-limit state.
    pub fn rate_token(&self, id: &str) -> String {
        self.k(format_args!("rate:token:{id}"))
    }

    /// `P rate:owner`: the owner header's rate-limit state.
    pub fn rate_owner(&self) -> String {
        self.k(format_args!("rate:owner"))
    }

    /// `P rate:auth:{ip}`: a client address's rate on the account
    /// endpoints.
    pub fn rate_auth(&self, client: std::net::IpAddr) -> String {
        self.k(format_args!("rate:auth:{client}"))
    }

    /// `P limit:user:{id}`: login attempts on an account.
    pub fn limit_account(&self, user: u64) -> String {
        self.k(format_args!("limit:user:{user}"))
    }

    /// `P limit:login:{hash}`: login attempts on a name with no account
    /// (`hash`: hex of a fixed-size digest of the name).
    pub fn limit_login(&self, hash: &str) -> String {
        self.k(format_args!("limit:login:{hash}"))
    }

    /// `P limit:owner:{ip}`, or `P limit:owner:all` without an address:
    /// wrong owner passwords.
    pub fn limit_owner(&self, client: Option<std::net::IpAddr>) -> String {
        match client {
            Some(ip) => self.k(format_args!("limit:owner:{ip}")),
            None => self.k(format_args!("limit:owner:all")),
        }
    }
}

#[cfg(test)]
mod tests;
