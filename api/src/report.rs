//! Arithmetic shared by the statistics answers.

use std::collections::{BTreeMap, HashMap};

/// `completed / total` as a percentage, 0 without tasks.
pub fn completion_rate(completed: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        completed as f64 * 100.0 / total as f64
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
}
