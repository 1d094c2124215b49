//! The paging and sort parameters of a list request, parsed once.
//!
//! Three styles, one at a time:
//!
//! * `limit` with an opaque `cursor` (the `next_cursor` of the page
//!   before): stable however rows come and go;
//! * `page` with `per_page` (seed 004), counted from 1;
//! * `skip` with `limit` (seed 002).
//!
//! A `limit` or `per_page` beyond [`ListLimits::max_page_size`] is 422,
//! never a silent cap. A request with none of them is unpaged.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use taskmaster_shared::config::ListLimits;
use taskmaster_shared::domain::FieldError;
use taskmaster_shared::model::Task;
use taskmaster_shared::order::{ID_DIGITS, SortKey, id_text};

/// The page size when a paged request names none.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// The most keys one `sort=` may name.
const MAX_SORT_KEYS: usize = 4;

/// Longest `cursor` accepted (one made here is far shorter).
const MAX_CURSOR: usize = 512;

/// How a list is ordered: keys with their direction (`true`: descending),
/// the id last as the final tie-breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    keys: Vec<(SortKey, bool)>,
}

impl Default for Sort {
    /// By id, the reference's order.
    fn default() -> Self {
        Sort {
            keys: vec![(SortKey::Id, false)],
        }
    }
}

impl Sort {
    /// `sort=deadline,-priority,updated_at,id`: each key once, `-` for
    /// descending. The id ends every order: where it is not named, in the
    /// direction of the last key named.
    pub fn parse(raw: &str) -> Result<Sort, FieldError> {
        let mut keys: Vec<(SortKey, bool)> = Vec::new();
        for part in raw.split(',') {
            let (name, desc) = match part.strip_prefix('-') {
                Some(name) => (name, true),
                None => (part, false),
            };
            let key = SortKey::parse(name).ok_or_else(|| {
                FieldError::new(
                    "sort",
                    "must be keys among id, deadline, priority and updated_at, each once, \
                     comma-separated, `-` before a key for descending",
                )
            })?;
            if keys.iter().any(|(k, _)| *k == key) || keys.len() == MAX_SORT_KEYS {
                return Err(FieldError::new("sort", "names a key twice"));
            }
            keys.push((key, desc));
        }
        // Nothing sorts after the id: it is unique. Unnamed, it breaks
        // ties in the direction of the last key (the order index's order).
        if let Some(i) = keys.iter().position(|(k, _)| *k == SortKey::Id) {
            keys.truncate(i + 1);
        } else {
            let desc = keys.last().is_some_and(|(_, desc)| *desc);
            keys.push((SortKey::Id, desc));
        }
        Ok(Sort { keys })
    }

    /// The keys, the id last.
    pub fn keys(&self) -> &[(SortKey, bool)] {
        &self.keys
    }

    /// The key and direction of the order index that gives this order by
    /// itself: one key, ties by id in the same direction (an index orders
    /// ties by id). `None` for an order of several keys.
    pub fn index(&self) -> Option<(SortKey, bool)> {
        match self.keys.as_slice() {
            [(SortKey::Id, desc)] => Some((SortKey::Id, *desc)),
            [(key, desc), (SortKey::Id, id_desc)] if desc == id_desc => Some((*key, *desc)),
            _ => None,
        }
    }

    /// As `sort=` would name it (what a cursor is bound to).
    pub fn canonical(&self) -> String {
        self.keys
            .iter()
            .map(|(k, desc)| format!("{}{}", if *desc { "-" } else { "" }, k.name()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Task `t`'s place in this order: each key's value as the index
    /// writes it (byte order is the key's order).
    pub fn position(&self, t: &Task) -> Position {
        Position {
            values: self.keys.iter().map(|(k, _)| k.component(t)).collect(),
        }
    }

    /// Compares two positions in this order.
    pub fn compare(&self, a: &Position, b: &Position) -> std::cmp::Ordering {
        for ((_, desc), (x, y)) in self.keys.iter().zip(a.values.iter().zip(&b.values)) {
            let o = x.cmp(y);
            if o.is_ne() {
                return if *desc { o.reverse() } else { o };
            }
        }
        std::cmp::Ordering::Equal
    }
}

/// A place in an order: one value per sort key (see [`Sort::position`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub values: Vec<String>,
}

impl Position {
    /// The member of the order index at this place, for an order of one
    /// key (see [`Sort::index`]): the key's tag, its value, the id.
    pub fn member(&self, key: SortKey) -> String {
        let id = self.values.last().map(String::as_str).unwrap_or_default();
        let mut m = String::with_capacity(40);
        m.push(char::from(key.tag()));
        if key != SortKey::Id {
            m.push_str(self.values.first().map(String::as_str).unwrap_or_default());
        }
        m.push_str(id);
        m
    }

    /// The place of an order index member, for the order of one key.
    pub fn of_member(key: SortKey, member: &[u8]) -> Option<Position> {
        let text = std::str::from_utf8(member).ok()?;
        let body = text.strip_prefix(char::from(key.tag()))?;
        let split = body.len().checked_sub(ID_DIGITS)?;
        let (value, id) = (body.get(..split)?, body.get(split..)?);
        Some(Position {
            values: if key == SortKey::Id {
                vec![id.to_owned()]
            } else {
                vec![value.to_owned(), id.to_owned()]
            },
        })
    }

    /// The opaque `cursor` of this place in `sort`.
    pub fn cursor(&self, sort: &Sort) -> String {
        let mut text = sort.canonical();
        for v in &self.values {
            text.push('\n');
            text.push_str(v);
        }
        URL_SAFE_NO_PAD.encode(text)
    }

    /// The place a `cursor` names, which must have been made for `sort`.
    pub fn from_cursor(raw: &str, sort: &Sort) -> Result<Position, FieldError> {
        let bad = || FieldError::new("cursor", "is not a cursor this list gave");
        if raw.len() > MAX_CURSOR {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('\n');
        if parts.next() != Some(sort.canonical().as_str()) {
            return Err(FieldError::new(
                "cursor",
                "was made for another sort: send the same `sort` as the request that gave it",
            ));
        }
        let values: Vec<String> = parts.map(str::to_owned).collect();
        let id_ok = values
            .last()
            .is_some_and(|id| id.len() == ID_DIGITS && id.bytes().all(|b| b.is_ascii_digit()));
        if values.len() != sort.keys.len() || !id_ok {
            return Err(bad());
        }
        Ok(Position { values })
    }

    /// The place of task id `id` in the order by id alone.
    pub fn of_id(id: u64) -> Position {
        Position {
            values: vec![id_text(id)],
        }
    }
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// After a cursor's place (`None`: from the beginning).
    After(Option<Position>),
    /// After skipping this many rows.
    Skip(u64),
}

/// How a page was asked for, to name the next one the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Cursor,
    Page { page: u64 },
    Skip { skip: u64 },
}

/// A paged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub limit: usize,
    pub start: Start,
    pub style: Style,
}

/// The paging and order of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub sort: Sort,
    /// Whether `sort` was given (an unpaged request without it answers
    /// as the reference does).
    pub sorted: bool,
    /// `None`: unpaged.
    pub paging: Option<Paging>,
}

impl ListParams {
    pub fn from_query(
        query: &HashMap<String, String>,
        limits: &ListLimits,
    ) -> Result<ListParams, FieldError> {
        let given = |name: &str| query.get(name).map(String::as_str);
        let sort = match given("sort") {
            Some(s) if !s.is_empty() => Some(Sort::parse(s)?),
            _ => None,
        };
        let size = |name: &'static str| -> Result<Option<usize>, FieldError> {
            given(name)
                .map(|v| match v.parse::<usize>() {
                    Ok(n) if (1..=limits.max_page_size).contains(&n) => Ok(n),
                    _ => Err(FieldError::new(
                        name,
                        format!("must be from 1 to {}", limits.max_page_size),
                    )),
                })
                .transpose()
        };
        let number = |name: &'static str, min: u64| -> Result<Option<u64>, FieldError> {
            given(name)
                .map(|v| match v.parse::<u64>() {
                    Ok(n) if n >= min && n <= 1 << 40 => Ok(n),
                    _ => Err(FieldError::new(
                        name,
                        format!("must be a whole number from {min}"),
                    )),
                })
                .transpose()
        };
        let limit = size("limit")?;
        let per_page = size("per_page")?;
        let page = number("page", 1)?;
        let skip = number("skip", 0)?;
        let cursor = given("cursor");
        let sorted = sort.is_some();
        let sort = sort.unwrap_or_default();
        let conflict =
            |a: &'static str, b: &str| FieldError::new(a, format!("cannot be combined with `{b}`"));
        let paging = match (cursor, page, skip) {
            (Some(_), Some(_), _) => return Err(conflict("cursor", "page")),
            (Some(_), _, Some(_)) => return Err(conflict("cursor", "skip")),
            (_, Some(_), Some(_)) => return Err(conflict("page", "skip")),
            _ if per_page.is_some() && limit.is_some() => {
                return Err(conflict("per_page", "limit"));
            }
            _ if per_page.is_some() && page.is_none() => {
                return Err(FieldError::new("per_page", "goes with `page`"));
            }
            (None, Some(page), None) => {
                let limit = per_page.unwrap_or(DEFAULT_PAGE_SIZE);
                Some(Paging {
                    limit,
                    start: Start::Skip((page - 1).saturating_mul(limit as u64)),
                    style: Style::Page { page },
                })
            }
            (None, None, Some(skip)) => Some(Paging {
                limit: limit.unwrap_or(DEFAULT_PAGE_SIZE),
                start: Start::Skip(skip),
                style: Style::Skip { skip },
            }),
            (Some(cursor), None, None) => Some(Paging {
                limit: limit.unwrap_or(DEFAULT_PAGE_SIZE),
                start: Start::After(Some(Position::from_cursor(cursor, &sort)?)),
                style: Style::Cursor,
            }),
            (None, None, None) => limit.map(|limit| Paging {
                limit,
                start: Start::After(None),
                style: Style::Cursor,
            }),
        };
        Ok(ListParams {
            sort,
            sorted,
            paging,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task_filter::tests::query;

    const LIMITS: ListLimits = ListLimits {
        max_page_size: 500,
        max_unpaged: 1000,
        max_tasks_per_user: 0,
        max_tasks_per_group: 0,
    };

    fn params(pairs: &[(&str, &str)]) -> Result<ListParams, FieldError> {
        ListParams::from_query(&query(pairs), &LIMITS)
    }

    #[test]
    fn sorts_parse_to_their_keys_with_the_id_last() {
        let s = Sort::parse("deadline,-priority,updated_at,id").expect("valid");
        assert_eq!(s.canonical(), "deadline,-priority,updated_at,id");
        assert_eq!(s.index(), None);
        let s = Sort::parse("-priority").expect("valid");
        assert_eq!(s.canonical(), "-priority,-id");
        assert_eq!(s.index(), Some((SortKey::Priority, true)));
        let s = Sort::parse("-priority,id").expect("valid");
        assert_eq!(
            s.index(),
            None,
            "ties by ascending id: not the index's order"
        );
        assert_eq!(
            Sort::parse("deadline,-priority")
                .expect("valid")
                .canonical(),
            "deadline,-priority,-id"
        );
        assert_eq!(
            Sort::parse("deadline").expect("valid").index(),
            Some((SortKey::Deadline, false))
        );
        assert_eq!(
            Sort::parse("-id,deadline").expect("valid").canonical(),
            "-id"
        );
        for bad in [
            "",
            "title",
            "deadline,deadline",
            "-",
            "deadline,,id",
            "DEADLINE",
        ] {
            assert_eq!(Sort::parse(bad).expect_err(bad).field, "sort", "{bad}");
        }
    }

    #[test]
    fn a_cursor_names_its_place_and_only_in_its_own_sort() {
        let sort = Sort::parse("deadline").expect("valid");
        let at = Position {
            values: vec!["2026-12-31".into(), id_text(42)],
        };
        let cursor = at.cursor(&sort);
        assert_eq!(Position::from_cursor(&cursor, &sort), Ok(at.clone()));
        assert_eq!(at.member(SortKey::Deadline), "d2026-12-310000000000000042");
        assert_eq!(
            Position::of_member(SortKey::Deadline, b"d2026-12-310000000000000042"),
            Some(at)
        );
        let other = Sort::parse("-deadline").expect("valid");
        assert_eq!(
            Position::from_cursor(&cursor, &other)
                .expect_err("other sort")
                .field,
            "cursor"
        );
        for bad in [
            "",
            "!!",
            &"A".repeat(600),
            &URL_SAFE_NO_PAD.encode("deadline,id\nx\n12"),
        ] {
            assert_eq!(
                Position::from_cursor(bad, &sort).expect_err(bad).field,
                "cursor"
            );
        }
    }

    #[test]
    fn each_paging_style_parses_and_bad_or_mixed_ones_are_refused() {
        assert_eq!(params(&[]).expect("none").paging, None);
        let p = params(&[("page", "3"), ("per_page", "10")]).expect("page");
        assert_eq!(
            p.paging.as_ref().map(|p| (&p.start, p.limit)),
            Some((&Start::Skip(20), 10))
        );
        let p = params(&[("skip", "5"), ("limit", "7")]).expect("skip");
        assert_eq!(
            p.paging.as_ref().map(|p| (&p.start, p.limit)),
            Some((&Start::Skip(5), 7))
        );
        let p = params(&[("limit", "7")]).expect("limit");
        assert_eq!(p.paging.map(|p| p.start), Some(Start::After(None)));
        let p = params(&[("page", "1")]).expect("page alone");
        assert_eq!(p.paging.map(|p| p.limit), Some(DEFAULT_PAGE_SIZE));
        // (query, the field named)
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("limit", "501")], "limit"),
            (&[("limit", "0")], "limit"),
            (&[("limit", "ten")], "limit"),
            (&[("per_page", "501"), ("page", "1")], "per_page"),
            (&[("page", "0")], "page"),
            (&[("skip", "-1")], "skip"),
            (&[("cursor", "x"), ("page", "2")], "cursor"),
            (&[("cursor", "x"), ("skip", "2")], "cursor"),
            (&[("page", "2"), ("skip", "2")], "page"),
            (
                &[("page", "2"), ("per_page", "5"), ("limit", "5")],
                "per_page",
            ),
            (&[("per_page", "5")], "per_page"),
            (&[("cursor", "nonsense")], "cursor"),
            (&[("sort", "name")], "sort"),
        ];
        for (pairs, field) in cases {
            assert_eq!(params(pairs).expect_err(field).field, *field, "{pairs:?}");
        }
    }
}
