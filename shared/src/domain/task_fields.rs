//! A task's workflow state and its labels, parsed once at the edge.
//!
//! * [`TaskState`]: `todo`, `in_progress` or `done`. The reference's
//!   boolean `status` is derived from it (true exactly when `done`).
//! * [`Label`] / [`Labels`]: 1 to 50 characters each, at most 20 on a task,
//!   kept as a set in byte order. A label is compared exactly (case and
//!   Unicode form included), has no control characters (they separate
//!   labels in the scripts' arguments) and no leading or trailing white
//!   space (two labels that look the same must be the same).

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Where a task is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Todo,
    InProgress,
    Done,
}

impl TaskState {
    pub const ALL: [TaskState; 3] = [TaskState::Todo, TaskState::InProgress, TaskState::Done];
    /// Their names on the wire, in the order of [`TaskState::ALL`].
    pub const NAMES: [&'static str; 3] = ["todo", "in_progress", "done"];

    /// Parses `field`'s value (`state`, or a filter's parameter).
    pub fn parse(field: &'static str, s: &str) -> Result<TaskState, FieldError> {
        match s {
            "todo" => Ok(TaskState::Todo),
            "in_progress" => Ok(TaskState::InProgress),
            "done" => Ok(TaskState::Done),
            other => Err(FieldError::new(
                field,
                format!("`{other}` is not todo, in_progress or done"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The state of a row written before states existed: its status.
    pub fn of_status(done: bool) -> TaskState {
        if done {
            TaskState::Done
        } else {
            TaskState::Todo
        }
    }

    /// The reference's `status`.
    pub fn is_done(self) -> bool {
        self == TaskState::Done
    }
}

impl utoipa::PartialSchema for TaskState {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(TaskState::NAMES))
            .description(Some(
                "Where the task is in its workflow; `status` is true exactly when this is `done`",
            ))
            .into()
    }
}

impl utoipa::ToSchema for TaskState {}

/// The most characters of one label.
pub const LABEL_MAX: usize = 50;
/// The most labels on one task.
pub const LABELS_MAX: usize = 20;

/// One label, checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(String);

impl Label {
    pub fn parse(field: &'static str, s: &str) -> Result<Label, FieldError> {
        let count = s.chars().count();
        if count == 0 || count > LABEL_MAX {
            return Err(FieldError::new(
                field,
                format!("a label has 1 to {LABEL_MAX} characters (got {count})"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "a label must not contain control characters",
            ));
        }
        if s.trim() != s {
            return Err(FieldError::new(
                field,
                "a label must not start or end with white space",
            ));
        }
        Ok(Label(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for Label {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(LABEL_MAX))
            .description(Some(
                "A label: no control characters, no white space at either end",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Label {}

/// A set of labels in byte order, at most [`LABELS_MAX`]. Duplicates sent
/// are merged, as in a set; a list of more than [`LABELS_MAX`] is refused
/// whatever it repeats (the schema says so, and no client means it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Parses a list sent for `field`.
    pub fn parse(field: &'static str, list: &[String]) -> Result<Labels, FieldError> {
        if list.len() > LABELS_MAX {
            return Err(FieldError::new(
                field,
                format!("at most {LABELS_MAX} labels (got {})", list.len()),
            ));
        }
        let mut labels = list
            .iter()
            .map(|s| Label::parse(field, s))
            .collect::<Result<Vec<_>, _>>()?;
        labels.sort_unstable();
        labels.dedup();
        Ok(Labels(labels))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(Label::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels joined by `\n` (no label holds one), as the scripts take
    /// them.
    pub fn joined(&self) -> String {
        self.iter().collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn states_parse_exactly_and_derive_the_status() {
        for (s, name) in TaskState::ALL.into_iter().zip(TaskState::NAMES) {
            assert_eq!(s.as_str(), name);
            assert_eq!(TaskState::parse("state", s.as_str()), Ok(s));
            assert_eq!(s.is_done(), s == TaskState::Done);
            assert_eq!(
                serde_json::to_string(&s).expect("serialised"),
                format!("\"{}\"", s.as_str())
            );
        }
        for bad in ["", "Done", "in-progress", "InProgress", "todo "] {
            let e = TaskState::parse("state", bad).expect_err(bad);
            assert_eq!(e.field, "state");
        }
        assert_eq!(TaskState::of_status(true), TaskState::Done);
        assert_eq!(TaskState::of_status(false), TaskState::Todo);
    }

    #[test]
    fn labels_are_a_sorted_set_of_short_clean_strings() {
        let l = Labels::parse("labels", &strings(&["b", "ä", "a", "b", "日本語"])).expect("valid");
        assert_eq!(l.iter().collect::<Vec<_>>(), ["a", "b", "ä", "日本語"]);
        assert_eq!(l.joined(), "a\nb\nä\n日本語");
        assert!(Label::parse("labels", &"é".repeat(50)).is_ok());
        for bad in [
            String::new(),
            "é".repeat(51),
            " lead".into(),
            "trail ".into(),
            "new\nline".into(),
            "nul\0".into(),
            "tab\there".into(),
        ] {
            let e = Label::parse("labels", &bad).expect_err("invalid");
            assert_eq!(e.field, "labels");
        }
    }

    #[test]
    fn at_most_twenty_labels_are_sent_at_once() {
        let twenty: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        assert_eq!(Labels::parse("labels", &twenty).expect("20").len(), 20);
        let mut repeated: Vec<String> = twenty[..10].to_vec();
        repeated.extend(twenty[..10].to_vec());
        assert_eq!(
            Labels::parse("labels", &repeated)
                .expect("duplicates merge")
                .len(),
            10
        );
        let mut more = twenty;
        more.push("l0".into());
        let e = Labels::parse("add_labels", &more).expect_err("21 sent");
        assert_eq!(e.field, "add_labels");
    }
}
