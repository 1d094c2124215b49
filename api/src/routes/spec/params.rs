//! The query parameters the operations take, shared between rows of
//! [`super::operations::OPERATIONS`]: the task lists' filters, orders and
//! paging, the id lists' paging, the feed's and the audit log's.

use taskmaster_shared::domain::{Priority, TaskState};

use super::row::{Kind, Param, param, search};
use crate::task_filter::STATUS_FILTERS;

/// The filters every task list takes.
pub(super) const STATE_FILTER: Param = param(
    "state",
    Kind::OneOf(&TaskState::NAMES),
    "Only tasks in this state",
);
pub(super) const LABEL_FILTER: Param = param(
    "label",
    Kind::Label,
    "Only tasks carrying this label (exactly as stored)",
);
// The filters, order and paging of the task lists (see
// `crate::task_filter` and `crate::paging`).
pub(super) const P_STATUS: Param = param(
    "status",
    Kind::OneOf(&STATUS_FILTERS),
    "`completed`, `pending`, or `all` (the same as leaving it out)",
);
pub(super) const P_PRIORITY: Param = param(
    "priority",
    Kind::Range(Priority::HIGHEST, Priority::LOWEST),
    "Only tasks of this priority: 1 (high), 2 or 3 (low)",
);
pub(super) const P_GROUP: Param = param("group_id", Kind::Id, "Only this group's tasks");
pub(super) const P_DEADLINE_BEFORE: Param = param(
    "deadline_before",
    Kind::Date,
    "Only tasks with a deadline before this day",
);
pub(super) const P_DEADLINE_AFTER: Param = param(
    "deadline_after",
    Kind::Date,
    "Only tasks with a deadline after this day",
);
pub(super) const P_DATE: Param = param("date", Kind::Date, "Only tasks due on this day");
pub(super) const P_OVERDUE: Param = param(
    "overdue",
    Kind::Flag,
    "`true`: only tasks with a deadline before today (the server's `TZ`) and not done; `false`: the others",
);
pub(super) const P_DUE: Param = param(
    "due",
    Kind::OneOf(&["today", "week"]),
    "Only tasks due today, or today and the six days after (the server's `TZ`)",
);
pub(super) const P_UPDATED_SINCE: Param = param(
    "updated_since",
    Kind::Time,
    "Only tasks changed at or after this time",
);
pub(super) const P_Q: Param = param(
    "q",
    Kind::Text,
    "Only tasks whose title or information contains this text, ignoring case (at most 200 characters)",
);
pub(super) const P_SORT: Param = param(
    "sort",
    Kind::Sort(&["id", "deadline", "priority", "updated_at"]),
    "The order: keys comma-separated, `-` before one for descending; ties go by id in the last \
         key's direction. One key (with or without the id) is read from an index at any size; several \
         keys are sorted for lists of up to `MAX_UNPAGED` tasks. Without it: by id",
);
pub(super) const P_LIMIT: Param = param(
    "limit",
    Kind::Range(1, 500),
    "Rows per page, 1 to `MAX_PAGE_SIZE` (default 500; beyond it is 422). With `cursor`, or \
         alone for the first page; with `skip`",
);
pub(super) const P_CURSOR: Param = param(
    "cursor",
    Kind::Cursor,
    "Where the page starts: the `next_cursor` of the page before (the same `sort` and filters)",
);
pub(super) const P_PAGE: Param = param(
    "page",
    Kind::AtLeast(1),
    "The page, from 1 (with `per_page`)",
);
pub(super) const P_PER_PAGE: Param = param(
    "per_page",
    Kind::Range(1, 500),
    "Rows per page with `page`, 1 to `MAX_PAGE_SIZE` (default 50)",
);
pub(super) const P_SKIP: Param = param(
    "skip",
    Kind::AtLeast(0),
    "Rows skipped (with `limit`, default 50)",
);
/// A list's paging, after its order.
const PAGING: [Param; 5] = [P_LIMIT, P_CURSOR, P_PAGE, P_PER_PAGE, P_SKIP];
/// The task filters every task list, search and export takes.
const TASK_FILTERS: [Param; 11] = [
    STATE_FILTER,
    LABEL_FILTER,
    P_STATUS,
    P_PRIORITY,
    P_GROUP,
    P_DEADLINE_BEFORE,
    P_DEADLINE_AFTER,
    P_DATE,
    P_OVERDUE,
    P_DUE,
    P_UPDATED_SINCE,
];
/// The paging of a list ordered by id alone.
pub(super) const ID_LIST: &[&[Param]] = &[
    &[param(
        "sort",
        Kind::Sort(&["id"]),
        "`id` (the default) or `-id`: these lists are ordered by id alone",
    )],
    &PAGING,
];
/// The user search's `q` and paging.
pub(super) const USER_SEARCH: &[&[Param]] = &[
    &[
        search("Text to find in full names and emails (case-insensitive; blank is 400)"),
        param("sort", Kind::Sort(&["id"]), "`id` (the default) or `-id`"),
    ],
    &PAGING,
];
/// A task list's filters, order and paging.
pub(super) const TASK_LIST: &[&[Param]] = &[&TASK_FILTERS, &[P_Q, P_SORT], &PAGING];
/// An import's mode and default group.
pub(super) const TASK_IMPORT: &[&[Param]] = &[&[
    param(
        "dry_run",
        Kind::Flag,
        "`true`: judge every row and answer the report (200); nothing is written",
    ),
    param(
        "partial",
        Kind::Flag,
        "`true`: write the good rows and report the bad ones; by default one bad row and nothing is written",
    ),
    param(
        "group_id",
        Kind::Id,
        "The group of the rows whose `group_id` cell is empty",
    ),
]];
/// An export's format and the list's filters (no paging, no order).
pub(super) const TASK_EXPORT: &[&[Param]] = &[
    &[param(
        "format",
        Kind::OneOf(&["csv", "json"]),
        "`csv` (the default: RFC 4180, a header row, formula-like cells prefixed with `'`) or `json`",
    )],
    &TASK_FILTERS,
    &[P_Q],
];
/// The search's: its required `q`, then the rest of the list's.
pub(super) const TASK_SEARCH: &[&[Param]] = &[
    &[search(
        "Text to find in titles and notes (case-insensitive; blank is 400)",
    )],
    &TASK_FILTERS,
    &[P_SORT],
    &PAGING,
];
/// The filter's: `user_id`, and the list's.
pub(super) const TASK_FILTER: &[&[Param]] = &[
    &[param(
        "user_id",
        Kind::Id,
        "Only this user's tasks (none unless the caller may see them)",
    )],
    &TASK_FILTERS,
    &[P_Q, P_SORT],
    &PAGING,
];

/// The feed's filters.
pub(super) const FEED_TYPES: Param = param(
    "types",
    Kind::ListOf(&["task", "user", "group"]),
    "Only entries about these types (comma-separated)",
);
pub(super) const FEED_GROUP: Param = param("group", Kind::Id, "Only entries about this group");

/// The audit log's paging and time bounds.
pub(super) const AUDIT_SINCE: Param = param(
    "since",
    Kind::Text,
    "Only records at or after this time (RFC 3339)",
);
pub(super) const AUDIT_UNTIL: Param = param(
    "until",
    Kind::Text,
    "Only records at or before this time (RFC 3339)",
);
pub(super) const AUDIT_CURSOR: Param = param(
    "cursor",
    Kind::Position,
    "The `next_cursor` of the previous page",
);
pub(super) const AUDIT_LIMIT: Param =
    param("limit", Kind::Range(1, 200), "Records at most (default 50)");
pub(super) const AUDIT_PAGING: &[&[Param]] =
    &[&[AUDIT_SINCE, AUDIT_UNTIL, AUDIT_CURSOR, AUDIT_LIMIT]];
