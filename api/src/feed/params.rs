//! The feed's query parameters, parsed once: a position to go on from, a
//! page size, and the filter.

use std::collections::HashMap;

use taskmaster_shared::domain::{FieldError, parse_id};
use taskmaster_shared::position::Position;

use super::filter::Filter;

/// The most entries one `GET /changes` answers.
pub const LIMIT_MAX: usize = 1_000;
/// Entries a `GET /changes` answers without `limit`.
pub const LIMIT_DEFAULT: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedParams {
    /// `since` (`/changes`), `resume_from` (`/ws`); `/events` takes the
    /// `Last-Event-ID` header too.
    pub from: Option<Position>,
    pub limit: usize,
    pub filter: Filter,
}

fn given<'q>(query: &'q HashMap<String, String>, name: &str) -> Option<&'q str> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// A position given as `field`.
pub fn position(field: &'static str, text: &str) -> Result<Position, FieldError> {
    Position::parse(text).ok_or_else(|| {
        FieldError::new(
            field,
            "must be a position from the feed (an entry's id, such as 1733390000000-0)",
        )
    })
}

impl FeedParams {
    /// `from_field` names the position's parameter.
    pub fn from_query(
        query: &HashMap<String, String>,
        from_field: &'static str,
    ) -> Result<FeedParams, FieldError> {
        let from = given(query, from_field)
            .map(|t| position(from_field, t))
            .transpose()?;
        let limit = match given(query, "limit") {
            None => LIMIT_DEFAULT,
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=LIMIT_MAX).contains(n))
                .ok_or_else(|| {
                    FieldError::new(
                        "limit",
                        format!("must be a whole number from 1 to {LIMIT_MAX}"),
                    )
                })?,
        };
        let kinds = match given(query, "types") {
            None => None,
            Some(t) => Some(Filter::kinds(&t.split(',').collect::<Vec<_>>())?),
        };
        let group = given(query, "group")
            .map(|g| parse_id(g).ok_or_else(|| FieldError::new("group", "must be a group id")))
            .transpose()?;
        Ok(FeedParams {
            from,
            limit,
            filter: Filter { kinds, group },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::entry::Kind;
    use crate::task_filter::tests::query;

    #[test]
    fn feed_parameters_are_parsed_or_refused_naming_the_field() {
        let p = FeedParams::from_query(
            &query(&[
                ("since", "5-1"),
                ("limit", "7"),
                ("types", "task,group"),
                ("group", "3"),
            ]),
            "since",
        )
        .expect("valid");
        assert_eq!(p.from, Some(Position { ms: 5, seq: 1 }));
        assert_eq!(p.limit, 7);
        assert_eq!(p.filter.kinds, Some(vec![Kind::Task, Kind::Group]));
        assert_eq!(p.filter.group, Some(3));
        assert_eq!(
            FeedParams::from_query(&query(&[]), "since")
                .expect("valid")
                .limit,
            LIMIT_DEFAULT
        );
        let cases: &[(&str, &str, &str)] = &[
            ("since", "yesterday", "since"),
            ("since", "1-2-3", "since"),
            ("limit", "0", "limit"),
            ("limit", "1001", "limit"),
            ("limit", "-1", "limit"),
            ("types", "task,sessions", "types"),
            ("group", "0", "group"),
            ("group", "x", "group"),
        ];
        for (name, value, field) in cases {
            let e = FeedParams::from_query(&query(&[(name, value)]), "since").expect_err("refused");
            assert_eq!(e.field, *field, "{name}={value}");
        }
    }
}
