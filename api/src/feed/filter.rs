//! What a client asked to receive: some types, one group. Filters narrow
//! what the rights admit; they never widen it.
//!
//! Given as query parameters (`?types=task,user&group=3`) or, on a
//! WebSocket, as a message (`{"types":["task"],"group":3}`).

use taskmaster_shared::domain::FieldError;

use super::entry::{Entry, Kind};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `None`: every type.
    pub kinds: Option<Vec<Kind>>,
    pub group: Option<u64>,
}

impl Filter {
    /// Parses the `types` list (`task`, `user`, `group`).
    pub fn kinds(names: &[&str]) -> Result<Vec<Kind>, FieldError> {
        let mut kinds = Vec::new();
        for name in names {
            match Kind::parse(name.trim()) {
                Some(k @ (Kind::Task | Kind::User | Kind::Group)) => {
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                _ => {
                    return Err(FieldError::new(
                        "types",
                        "must list only task, user and group",
                    ));
                }
            }
        }
        Ok(kinds)
    }

    /// Whether `e` passes (a reset always does).
    pub fn passes(&self, e: &Entry) -> bool {
        if e.kind == Kind::Reset {
            return true;
        }
        if let Some(kinds) = &self.kinds
            && !kinds.contains(&e.kind)
        {
            return false;
        }
        let Some(g) = self.group else {
            return true;
        };
        match e.kind {
            Kind::Task => e.group == Some(g) || e.old_group == Some(g),
            Kind::Group => e.id == g,
            Kind::User => e.groups.contains(&g),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::entry::tests::fields;
    use taskmaster_shared::position::Position;

    #[test]
    fn types_are_task_user_and_group_only() {
        assert_eq!(
            Filter::kinds(&["task", " user", "task"]).expect("valid"),
            vec![Kind::Task, Kind::User]
        );
        for bad in [&["session"][..], &["reset"], &["tasks"], &[""]] {
            assert!(Filter::kinds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_group_filter_keeps_what_is_about_that_group() {
        let task = Entry::parse(
            Position { ms: 1, seq: 0 },
            &fields(&[
                ("type", "task"),
                ("op", "updated"),
                ("id", "1"),
                ("user", "3"),
                ("group", "2"),
                ("old_group", "5"),
                ("row", "{}"),
            ]),
        )
        .expect("valid");
        let of = |g| Filter {
            kinds: None,
            group: Some(g),
        };
        assert!(of(2).passes(&task) && of(5).passes(&task) && !of(3).passes(&task));
        let only_users = Filter {
            kinds: Some(vec![Kind::User]),
            group: None,
        };
        assert!(!only_users.passes(&task));
    }
}
