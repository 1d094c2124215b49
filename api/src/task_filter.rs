//! The filters every task list takes (`/users/{id}/tasks`,
//! `/groups/{id}/tasks`, `/tasks/filter`), parsed once from the query.
//!
//! | parameter | keeps the tasks |
//! |---|---|
//! | `state` | in that state (`todo`, `in_progress`, `done`) |
//! | `status` | `completed` (done), `pending` (not done), `all` |
//! | `label` | carrying that label |
//! | `priority` | of that priority (1–3) |
//! | `group_id` | of that group |
//! | `deadline_before`, `deadline_after` | with a deadline before / after that day (both exclusive; a task without a deadline has neither) |
//! | `date` | due on that day (seed 004's filter) |
//! | `overdue` | `true`: with a deadline before today and not done; `false`: the others |
//! | `due` | `today`: due today; `week`: due today or in the six days after |
//! | `updated_since` | changed at or after that time (RFC 3339) |
//! | `q` | whose title or information contains the text, ignoring case |
//!
//! "Today" is the server's (`TZ`, UTC when unset: see
//! [`crate::clock::today`]). An empty value is no filter; a bad one is 422
//! naming the parameter. The bounds on a task's deadline, priority or
//! update time also narrow the order index a page is read from (see
//! [`crate::paging`]), so that a list sorted by the key it is filtered on
//! reads only what it answers.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use taskmaster_shared::domain::{self, FieldError, Label, Priority, TaskState};
use taskmaster_shared::model::Task;
use taskmaster_shared::order::{SortKey, time_text};

/// The values `status=` takes (absent or empty: no filter, as `all`). The
/// spec states them from here.
pub const STATUS_FILTERS: [&str; 3] = ["completed", "pending", "all"];

/// Longest `q` accepted.
const MAX_Q: usize = 200;

/// `due=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Today,
    Week,
}

/// The filters of one request; empty when none was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    pub label: Option<Label>,
    /// `true`: done only; `false`: not done only.
    pub status: Option<bool>,
    pub priority: Option<u8>,
    pub group_id: Option<u64>,
    /// Deadlines strictly after this day.
    pub deadline_after: Option<NaiveDate>,
    /// Deadlines strictly before this day.
    pub deadline_before: Option<NaiveDate>,
    pub date: Option<NaiveDate>,
    pub overdue: Option<bool>,
    pub due: Option<Due>,
    /// As the order index writes times ([`time_text`]).
    pub updated_since: Option<String>,
    /// Lower-cased.
    pub q: Option<String>,
    /// The day `overdue` and `due` are judged on.
    pub today: NaiveDate,
}

/// `completed` → done tasks, `pending` → open ones, `all` or `""` → both.
/// Unlike the reference, which ignored an unknown value, 422 names it:
/// a typo must not silently answer every task.
pub fn status_filter(raw: &str) -> Result<Option<bool>, FieldError> {
    match raw {
        "" | "all" => Ok(None),
        "completed" => Ok(Some(true)),
        "pending" => Ok(Some(false)),
        other => Err(FieldError::new(
            "status",
            format!("`{other}` is not completed, pending or all"),
        )),
    }
}

fn day(name: &'static str, v: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .filter(|_| v.len() == 10)
        .ok_or_else(|| FieldError::new(name, "must be a calendar date YYYY-MM-DD"))
}

impl TaskFilter {
    /// The filters of a query; an empty value is no filter, a bad one 422
    /// naming the parameter.
    pub fn from_query(query: &HashMap<String, String>) -> Result<TaskFilter, FieldError> {
        let given = |name: &str| {
            query
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let flag = |name: &'static str| -> Result<Option<bool>, FieldError> {
            given(name)
                .map(|v| match v {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(FieldError::new(name, "must be true or false")),
                })
                .transpose()
        };
        let q = given("q")
            .map(|q| {
                if q.chars().count() > MAX_Q {
                    Err(FieldError::new("q", format!("at most {MAX_Q} characters")))
                } else {
                    Ok(q.to_lowercase())
                }
            })
            .transpose()?
            .filter(|q| !q.trim().is_empty());
        Ok(TaskFilter {
            state: given("state")
                .map(|s| TaskState::parse("state", s))
                .transpose()?,
            label: given("label")
                .map(|l| Label::parse("label", l))
                .transpose()?,
            status: status_filter(given("status").unwrap_or(""))?,
            priority: given("priority")
                .map(|p| {
                    p.parse::<i64>()
                        .map_err(|_| FieldError::new("priority", "must be 1, 2 or 3"))
                        .and_then(Priority::parse)
                        .map(Priority::get)
                })
                .transpose()?,
            group_id: given("group_id")
                .map(|g| {
                    domain::parse_id(g)
                        .ok_or_else(|| FieldError::new("group_id", "must be a positive integer"))
                })
                .transpose()?,
            deadline_after: given("deadline_after")
                .map(|d| day("deadline_after", d))
                .transpose()?,
            deadline_before: given("deadline_before")
                .map(|d| day("deadline_before", d))
                .transpose()?,
            date: given("date").map(|d| day("date", d)).transpose()?,
            overdue: flag("overdue")?,
            due: given("due")
                .map(|d| match d {
                    "today" => Ok(Due::Today),
                    "week" => Ok(Due::Week),
                    _ => Err(FieldError::new("due", "must be today or week")),
                })
                .transpose()?,
            updated_since: given("updated_since")
                .map(|t| {
                    DateTime::parse_from_rfc3339(t)
                        .map(|t| time_text(&taskmaster_shared::time::rfc3339(t.to_utc())))
                        .map_err(|_| FieldError::new("updated_since", "must be an RFC 3339 time"))
                })
                .transpose()?,
            q,
            today: crate::clock::today(),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self
            == TaskFilter {
                today: self.today,
                ..TaskFilter::default()
            }
    }

    /// The deadline days a task must fall within, inclusive, when a filter
    /// bounds them: `(from, to)`, each `None` when open. `Some(None)`
    /// bounds nothing but excludes tasks without a deadline.
    fn deadline_days(&self) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
        let today = self.today;
        let (mut lows, mut highs) = (Vec::new(), Vec::new());
        if let Some(d) = self.deadline_after {
            lows.push(d.succ_opt().unwrap_or(d));
        }
        if let Some(d) = self.date {
            lows.push(d);
            highs.push(d);
        }
        if let Some(d) = self.deadline_before {
            highs.push(d.pred_opt().unwrap_or(d));
        }
        if self.overdue == Some(true) {
            highs.push(today.pred_opt().unwrap_or(today));
        }
        match self.due {
            Some(Due::Today) => {
                lows.push(today);
                highs.push(today);
            }
            Some(Due::Week) => {
                lows.push(today);
                highs.push(today + chrono::Days::new(6));
            }
            None => {}
        }
        if lows.is_empty() && highs.is_empty() {
            return None;
        }
        Some((lows.into_iter().max(), highs.into_iter().min()))
    }

    /// The part of `key`'s members in the order index the filters allow,
    /// as `ZRANGE … BYLEX` bounds `[low, high)` of the member text after
    /// the tag; `None` when they do not bound that key.
    pub fn index_range(&self, key: SortKey) -> Option<(String, Option<String>)> {
        match key {
            SortKey::Deadline => {
                let (from, to) = self.deadline_days()?;
                // A task without a deadline (`~`) is in no day's range.
                let low = from.map(|d| d.to_string()).unwrap_or_default();
                let high = to
                    .map(|d| format!("{d}~"))
                    .unwrap_or_else(|| "~".to_owned());
                Some((low, Some(high)))
            }
            SortKey::Priority => {
                let p = self.priority?;
                Some((p.to_string(), Some(format!("{p}~"))))
            }
            SortKey::UpdatedAt => Some((self.updated_since.clone()?, None)),
            SortKey::Id => None,
        }
    }

    pub fn matches(&self, t: &Task) -> bool {
        let deadline = || NaiveDate::parse_from_str(&t.deadline, "%Y-%m-%d").ok();
        let done = t.state == TaskState::Done;
        self.state.is_none_or(|s| t.state == s)
            && self.status.is_none_or(|s| done == s)
            && self.priority.is_none_or(|p| t.priority == p)
            && self.group_id.is_none_or(|g| t.group_id == g)
            && self
                .label
                .as_ref()
                .is_none_or(|l| t.labels.iter().any(|x| x == l.as_str()))
            && self.deadline_days().is_none_or(|(from, to)| {
                deadline().is_some_and(|d| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t))
            })
            && self
                .overdue
                .is_none_or(|o| o == crate::report::is_overdue(t, self.today))
            && self
                .updated_since
                .as_ref()
                .is_none_or(|since| time_text(&t.updated_at) >= *since)
            && self.q.as_ref().is_none_or(|q| {
                t.title.to_lowercase().contains(q.as_str())
                    || t.information.to_lowercase().contains(q.as_str())
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A task in `state` with `deadline` and `labels` (the rest filler).
    pub(crate) fn task(state: TaskState, deadline: &str, labels: &[&str]) -> Task {
        let raw = format!(
            r#"{{"id":1,"title":"t","status":false,"priority":2,"deadline":"{deadline}","information":"","user_id":1,"group_id":1,"created_at":"","updated_at":"2026-12-05T10:00:00Z","state":"{}","created_by":null,"labels":{},"completed_at":null}}"#,
            state.as_str(),
            serde_json::to_string(labels).expect("labels")
        );
        Task::from_json(raw.as_bytes()).expect("a task")
    }

    /// A parsed query string of `pairs` (for the unit tests of every
    /// query parser).
    pub(crate) fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn filter(pairs: &[(&str, &str)]) -> TaskFilter {
        let mut f = TaskFilter::from_query(&query(pairs)).expect("valid");
        f.today = NaiveDate::from_ymd_opt(2026, 12, 5).expect("a day");
        f
    }

    #[test]
    fn filters_parse_from_the_query_and_name_a_bad_parameter() {
        assert!(filter(&[]).is_empty());
        assert!(filter(&[("state", ""), ("label", "")]).is_empty());
        let f = filter(&[("state", "in_progress"), ("label", "日本")]);
        assert_eq!(f.state, Some(TaskState::InProgress));
        assert!(f.matches(&task(TaskState::InProgress, "", &["a", "日本"])));
        assert!(!f.matches(&task(TaskState::InProgress, "", &["a"])));
        assert!(!f.matches(&task(TaskState::Todo, "", &["日本"])));
        for (name, value) in [
            ("state", "finished"),
            ("label", &"x".repeat(51)),
            ("status", "done"),
            ("priority", "4"),
            ("priority", "high"),
            ("group_id", "0"),
            ("deadline_before", "2026-02-30"),
            ("deadline_after", "tomorrow"),
            ("date", "2026-1-5"),
            ("overdue", "yes"),
            ("due", "month"),
            ("updated_since", "2026-12-05"),
            ("q", &"x".repeat(201)),
        ] {
            let e = TaskFilter::from_query(&query(&[(name, value)])).expect_err(value);
            assert_eq!(e.field, name, "{value}");
        }
    }

    #[test]
    fn every_status_filter_the_spec_offers_is_accepted_and_nothing_else() {
        for value in STATUS_FILTERS {
            assert!(status_filter(value).is_ok(), "{value}");
        }
        assert_eq!(status_filter("").ok(), Some(None));
        for value in ["true", "done", "Completed", " all"] {
            assert!(status_filter(value).is_err(), "{value}");
        }
    }

    #[test]
    fn each_filter_keeps_exactly_its_tasks() {
        let (todo, done) = (TaskState::Todo, TaskState::Done);
        // (query, deadline, state, kept)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, TaskState, bool);
        let cases: &[Case<'_>] = &[
            (&[("date", "2026-12-05")], "2026-12-05", todo, true),
            (&[("date", "2026-12-05")], "2026-12-06", todo, false),
            (&[("date", "2026-12-05")], "", todo, false),
            (
                &[("deadline_before", "2026-12-05")],
                "2026-12-04",
                todo,
                true,
            ),
            (
                &[("deadline_before", "2026-12-05")],
                "2026-12-05",
                todo,
                false,
            ),
            (&[("deadline_before", "2026-12-05")], "", todo, false),
            (
                &[("deadline_after", "2026-12-05")],
                "2026-12-06",
                todo,
                true,
            ),
            (
                &[("deadline_after", "2026-12-05")],
                "2026-12-05",
                todo,
                false,
            ),
            (&[("deadline_after", "2026-12-05")], "", todo, false),
            (&[("overdue", "true")], "2026-12-04", todo, true),
            (&[("overdue", "true")], "2026-12-04", done, false),
            (&[("overdue", "true")], "2026-12-05", todo, false),
            (&[("overdue", "false")], "2026-12-04", done, true),
            (&[("overdue", "false")], "", todo, true),
            (&[("due", "today")], "2026-12-05", todo, true),
            (&[("due", "today")], "2026-12-06", todo, false),
            (&[("due", "week")], "2026-12-11", todo, true),
            (&[("due", "week")], "2026-12-12", todo, false),
            (&[("due", "week")], "2026-12-04", todo, false),
            (&[("status", "completed")], "", done, true),
            (&[("status", "pending")], "", done, false),
            (&[("updated_since", "2026-12-05T10:00:00Z")], "", todo, true),
            (
                &[("updated_since", "2026-12-05T11:00:00+01:00")],
                "",
                todo,
                true,
            ),
            (
                &[("updated_since", "2026-12-05T10:00:00.000001Z")],
                "",
                todo,
                false,
            ),
            (&[("q", "T")], "", todo, true),
            (&[("q", "nothing")], "", todo, false),
            (&[("priority", "2")], "", todo, true),
            (&[("priority", "3")], "", todo, false),
            (&[("group_id", "1")], "", todo, true),
            (&[("group_id", "2")], "", todo, false),
        ];
        for (pairs, deadline, state, kept) in cases {
            let f = filter(pairs);
            assert_eq!(
                f.matches(&task(*state, deadline, &[])),
                *kept,
                "{pairs:?} on {deadline:?} {state:?}"
            );
        }
    }

    #[test]
    fn a_filter_on_a_sort_key_narrows_its_index_range() {
        let f = filter(&[
            ("deadline_after", "2026-12-01"),
            ("deadline_before", "2026-12-10"),
        ]);
        assert_eq!(
            f.index_range(SortKey::Deadline),
            Some(("2026-12-02".to_owned(), Some("2026-12-09~".to_owned())))
        );
        assert_eq!(f.index_range(SortKey::Priority), None);
        let f = filter(&[("overdue", "true")]);
        assert_eq!(
            f.index_range(SortKey::Deadline),
            Some((String::new(), Some("2026-12-04~".to_owned())))
        );
        let f = filter(&[("priority", "3")]);
        assert_eq!(
            f.index_range(SortKey::Priority),
            Some(("3".to_owned(), Some("3~".to_owned())))
        );
        let f = filter(&[("updated_since", "2026-12-05T10:00:00Z")]);
        assert_eq!(
            f.index_range(SortKey::UpdatedAt),
            Some(("2026-12-05T10:00:00000000".to_owned(), None))
        );
    }
}
