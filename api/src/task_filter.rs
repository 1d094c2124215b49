//! The `state=` and `label=` filters every task list takes
//! (`/users/{id}/tasks`, `/groups/{id}/tasks`, `/tasks/filter`).
//!
//! Both filters scan the tasks the caller may see, as the reference's
//! filters do; a label filter inside one group could read the group's
//! label index instead (`P group:{id}:label:{label}`).

use std::collections::HashMap;

use taskmaster_shared::domain::{FieldError, Label, TaskState};
use taskmaster_shared::model::Task;

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A task in `state` with `deadline` and `labels` (the rest filler).
    pub(crate) fn task(state: TaskState, deadline: &str, labels: &[&str]) -> Task {
        let raw = format!(
            r#"{{"id":1,"title":"t","status":false,"priority":2,"deadline":"{deadline}","information":"","user_id":1,"group_id":1,"created_at":"","updated_at":"","state":"{}","created_by":null,"labels":{},"completed_at":null}}"#,
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
}
