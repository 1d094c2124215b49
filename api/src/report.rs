//! Arithmetic shared by the statistics answers.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;
use taskmaster_shared::domain::TaskState;
use taskmaster_shared::model::Task;
use utoipa::ToSchema;

/// `completed / total` as a percentage, 0 without tasks.
pub fn completion_rate(completed: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        completed as f64 * 100.0 / total as f64
    }
}

/// Tasks per state, in the statistics answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StateCounts {
    pub todo: u64,
    pub in_progress: u64,
    pub done: u64,
}

/// Whether a task is overdue on `today` (see [`crate::clock::today`]): it has a deadline before
/// that day and is not done. A task due today is not overdue yet.
pub fn is_overdue(t: &Task, today: NaiveDate) -> bool {
    !t.state.is_done()
        && NaiveDate::parse_from_str(&t.deadline, "%Y-%m-%d").is_ok_and(|d| d < today)
}

/// The counts every statistics answer carries, over one set of tasks.
pub struct Totals {
    pub total: u64,
    /// Done (the reference's completed: `status` follows the state).
    pub completed: u64,
    pub pending: u64,
    pub completion_rate: f64,
    pub states: StateCounts,
    pub overdue: u64,
}

/// The statistics of a list read in chunks, gathered task by task, so
/// that no list is ever held whole: the [`Totals`] and the counts per
/// group, user and priority.
#[derive(Debug, Default)]
pub struct Tally {
    pub total: u64,
    pub states: StateCounts,
    pub overdue: u64,
    pub by_group: BTreeMap<u64, u64>,
    pub by_user: BTreeMap<u64, u64>,
    pub by_priority: BTreeMap<u8, u64>,
    today: Option<NaiveDate>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            today: Some(crate::clock::today()),
            ..Tally::default()
        }
    }

    pub fn add(&mut self, t: &Task) {
        self.total += 1;
        match t.state {
            TaskState::Todo => self.states.todo += 1,
            TaskState::InProgress => self.states.in_progress += 1,
            TaskState::Done => self.states.done += 1,
        }
        if self.today.is_some_and(|today| is_overdue(t, today)) {
            self.overdue += 1;
        }
        *self.by_group.entry(t.group_id).or_default() += 1;
        *self.by_user.entry(t.user_id).or_default() += 1;
        *self.by_priority.entry(t.priority).or_default() += 1;
    }

    pub fn totals(&self) -> Totals {
        Totals {
            total: self.total,
            completed: self.states.done,
            pending: self.total - self.states.done,
            completion_rate: completion_rate(self.states.done, self.total),
            states: self.states,
            overdue: self.overdue,
        }
    }
}

/// Task counts per user, keyed by full name like the reference system; two
/// users with the same name are told apart by their id (`Ann (#7)`) instead
/// of being merged.
pub fn counts_by_name(
    counts: &BTreeMap<u64, u64>,
    names: &HashMap<u64, String>,
) -> BTreeMap<String, u64> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in counts.keys() {
        if let Some(n) = names.get(id) {
            *seen.entry(n.as_str()).or_default() += 1;
        }
    }
    counts
        .iter()
        .map(|(id, n)| {
            let name = names.get(id).map(String::as_str).unwrap_or("");
            let key = if name.is_empty() || seen.get(name).copied().unwrap_or(0) > 1 {
                format!("{name} (#{id})")
            } else {
                name.to_owned()
            };
            (key, *n)
        })
        .collect()
}

/// Counts per id, keyed by the id as text (JSON object keys).
pub fn by_id(counts: &BTreeMap<u64, u64>) -> BTreeMap<String, u64> {
    counts.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_names_are_told_apart_by_id() {
        let counts: BTreeMap<u64, u64> = [(1, 2), (2, 3), (3, 1)].into();
        let names: HashMap<u64, String> = [
            (1, "Ann".to_owned()),
            (2, "Ann".to_owned()),
            (3, "Bob".to_owned()),
        ]
        .into();
        let by_name = counts_by_name(&counts, &names);
        assert_eq!(by_name.get("Ann (#1)"), Some(&2));
        assert_eq!(by_name.get("Ann (#2)"), Some(&3));
        assert_eq!(by_name.get("Bob"), Some(&1));
    }

    #[test]
    fn the_completion_rate_is_a_percentage_and_zero_without_tasks() {
        assert_eq!(completion_rate(0, 0), 0.0);
        assert_eq!(completion_rate(1, 4), 25.0);
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
                is_overdue(
                    &crate::task_filter::tests::task(state, deadline, &[]),
                    today
                ),
                expected,
                "{state:?} {deadline}"
            );
        }
        let all = [
            crate::task_filter::tests::task(TaskState::Todo, "", &[]),
            crate::task_filter::tests::task(TaskState::Done, "", &[]),
            crate::task_filter::tests::task(TaskState::Done, "", &[]),
        ];
        let mut tally = Tally::new();
        all.iter().for_each(|t| tally.add(t));
        assert_eq!(
            tally.states,
            StateCounts {
                todo: 1,
                in_progress: 0,
                done: 2
            }
        );
        let totals = tally.totals();
        assert_eq!((totals.total, totals.completed, totals.pending), (3, 2, 1));
        assert_eq!(tally.by_priority.get(&2), Some(&3));
    }
}
