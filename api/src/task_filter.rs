//! The `state=` and `label=` filters every task list takes
//! (`/users/{id}/tasks`, `/groups/{id}/tasks`, `/tasks/filter`), and the
//! counts the statistics answers add (by state, overdue).
//!
//! Both filters scan the tasks the caller may see, as the reference's
//! filters do; a label filter inside one group could read the group's
//! label index instead (`P group:{id}:label:{label}`).

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use taskmaster_shared::domain::{FieldError, Label, TaskState};
use taskmaster_shared::model::Task;
use utoipa::ToSchema;

/// The filters of one request; empty when neither was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    pub label: Option<Label>,
}

impl TaskFilter {
    /// `state` and `label` from a query; an empty value is no filter, a
    /// bad one 422 naming the parameter.
    pub fn from_query(query: &HashMap<String, String>) -> Result<TaskFilter, FieldError> {
        let given = |name: &str| {
            query
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        Ok(TaskFilter {
            state: given("state")
                .map(|s| TaskState::parse("state", s))
                .transpose()?,
            label: given("label")
                .map(|l| Label::parse("label", l))
                .transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_none() && self.label.is_none()
    }

    pub fn matches(&self, t: &Task) -> bool {
        self.state.is_none_or(|s| t.state == s)
            && self
                .label
                .as_ref()
                .is_none_or(|l| t.labels.iter().any(|x| x == l.as_str()))
    }
}

/// Tasks per state, in the statistics answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StateCounts {
    pub todo: u64,
    pub in_progress: u64,
    pub done: u64,
}

impl StateCounts {
    pub fn of<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> StateCounts {
        let mut c = StateCounts::default();
        for t in tasks {
            match t.state {
                TaskState::Todo => c.todo += 1,
                TaskState::InProgress => c.in_progress += 1,
                TaskState::Done => c.done += 1,
            }
        }
        c
    }
}

/// Whether a task is overdue on `today` (UTC): it has a deadline before
/// that day and is not done. A task due today is not overdue yet.
pub fn is_overdue(t: &Task, today: NaiveDate) -> bool {
    !t.state.is_done()
        && NaiveDate::parse_from_str(&t.deadline, "%Y-%m-%d").is_ok_and(|d| d < today)
}

/// How many of `tasks` are overdue today (UTC).
pub fn overdue<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> u64 {
    let today = chrono::Utc::now().date_naive();
    tasks.into_iter().filter(|t| is_overdue(t, today)).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState, deadline: &str, labels: &[&str]) -> Task {
        let raw = format!(
            r#"{{"id":1,"title":"t","status":false,"priority":2,"deadline":"{deadline}","information":"","user_id":1,"group_id":1,"created_at":"","updated_at":"","state":"{}","created_by":null,"labels":{},"completed_at":null}}"#,
            state.as_str(),
            serde_json::to_string(labels).expect("labels")
        );
        Task::from_json(raw.as_bytes()).expect("a task")
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filters_parse_from_the_query_and_name_a_bad_parameter() {
        assert!(
            TaskFilter::from_query(&query(&[]))
                .expect("none")
                .is_empty()
        );
        assert!(
            TaskFilter::from_query(&query(&[("state", ""), ("label", "")]))
                .expect("empty values")
                .is_empty()
        );
        let f = TaskFilter::from_query(&query(&[("state", "in_progress"), ("label", "日本")]))
            .expect("valid");
        assert_eq!(f.state, Some(TaskState::InProgress));
        assert!(f.matches(&task(TaskState::InProgress, "", &["a", "日本"])));
        assert!(!f.matches(&task(TaskState::InProgress, "", &["a"])));
        assert!(!f.matches(&task(TaskState::Todo, "", &["日本"])));
        let e = TaskFilter::from_query(&query(&[("state", "finished")])).expect_err("bad");
        assert_eq!(e.field, "state");
        let e = TaskFilter::from_query(&query(&[("label", &"x".repeat(51))])).expect_err("bad");
        assert_eq!(e.field, "label");
    }

    #[test]
    fn a_task_is_overdue_after_its_deadline_day_until_it_is_done() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let cases = [
            (TaskState::Todo, "2026-12-04", true),
            (TaskState::InProgress, "2020-01-01", true),
            (TaskState::Todo, "2026-12-05", false),
            (TaskState::Todo, "2026-12-06", false),
            (TaskState::Done, "2026-12-04", false),
            (TaskState::Todo, "", false),
        ];
        for (state, deadline, expected) in cases {
            assert_eq!(
                is_overdue(&task(state, deadline, &[]), today),
                expected,
                "{state:?} {deadline}"
            );
        }
        let all = [
            task(TaskState::Todo, "", &[]),
            task(TaskState::Done, "", &[]),
            task(TaskState::Done, "", &[]),
        ];
        assert_eq!(
            StateCounts::of(&all),
            StateCounts {
                todo: 1,
                in_progress: 0,
                done: 2
            }
        );
    }
}
