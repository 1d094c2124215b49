//! A script's refusal, decoded in one place.
//!
//! Write scripts answer `{'OK', …}` or `{'ERR', code, detail}`; a refused
//! write changed nothing. The codes become [`Refusal`] here, and only here;
//! what a client is told for each is decided in one place too
//! (`crate::error::refused`). `MAINTENANCE` is no rule of the data but a
//! restore in progress: it is [`StoreError::Maintenance`]; nor is
//! `IDS_UNCHECKED` (Redis restarted and syncd has not yet checked it
//! against PostgreSQL): [`StoreError::IdsUnchecked`].

use redis::Value;

use super::StoreError;
use super::value::{array, string};

/// Why a write script refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The row the write is about does not exist.
    NotFound,
    /// Another user has this email.
    EmailTaken,
    /// Another group has this name.
    NameTaken,
    /// A named group does not exist (its id, when the script says).
    GroupNotFound(String),
    /// A named user does not exist.
    UserNotFound,
    /// The admin named for a group does not exist.
    AdminNotFound,
    /// The admin named for a group has neither role that may administer.
    AdminRole,
    /// The user changed since the api read it (its role, here).
    Conflict,
    /// The user administers these groups (`1, 4`), so may not lose the role.
    Administers(String),
    /// A group admin may only add plain users.
    RoleForbidden,
    /// A group admin may only remove plain users.
    RoleForbiddenRemove,
    AlreadyMember,
    /// The user is not a member of the group.
    NotMember,
    /// The caller does not administer the group.
    Forbidden,
    /// The caller does not administer the group a task would go to.
    ForbiddenGroup,
    /// The credential version a write was guarded by is no longer the
    /// user's: the credential changed since it was verified.
    StaleCredentials,
    /// Over the rate limit (the count says for how long).
    RateLimited,
    /// The owner account changed since bootstrap read it.
    Changed,
    /// The user holds the most personal tokens it may.
    TooMany,
    /// The row is no longer the one `If-Match` named.
    Precondition,
    /// A retry: the create's `Idempotency-Key` made this row already.
    AlreadyCreated(u64),
    /// The create's `Idempotency-Key` was used with another request.
    IdempotencyMismatch,
    /// The user holds the most tasks `MAX_TASKS_PER_USER` allows.
    UserQuota,
    /// The group holds the most tasks `MAX_TASKS_PER_GROUP` allows (its
    /// id, when the script says).
    GroupQuota(String),
    /// Tasks of a `write_tasks` call, each with why (all or nothing).
    Tasks(Vec<(TaskRefusal, u64)>),
    /// The job is gone (it expired, or a restore removed it).
    JobGone,
    /// Another api holds the job now (it took it over).
    JobTaken,
    /// The job is no longer active: its status.
    JobEnded(String),
    /// Another step of the job ran first: the rows it has done.
    JobMoved(String),
}

/// Why one task of a `write_tasks` call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskRefusal {
    /// Missing, or one the caller may not change (not revealed).
    NotFound,
    /// Its user is not a member of the new group.
    NotMember,
    /// The caller does not administer the new group.
    ForbiddenGroup,
    /// The labels added would give the task more than 20.
    TooManyLabels,
}

impl Refusal {
    /// A code and its detail as the scripts send them; `None` for a code
    /// no script sends (a bug: the caller makes it a 500).
    pub fn decode(code: &str, detail: &str) -> Option<Refusal> {
        Some(match code {
            "NOT_FOUND" => Refusal::NotFound,
            "EMAIL_TAKEN" => Refusal::EmailTaken,
            "NAME_TAKEN" => Refusal::NameTaken,
            "GROUP_NOT_FOUND" => Refusal::GroupNotFound(detail.to_owned()),
            "USER_NOT_FOUND" => Refusal::UserNotFound,
            "ADMIN_NOT_FOUND" => Refusal::AdminNotFound,
            "ADMIN_ROLE" => Refusal::AdminRole,
            "CONFLICT" => Refusal::Conflict,
            "ADMINISTERS" => Refusal::Administers(detail.to_owned()),
            "ROLE_FORBIDDEN" => Refusal::RoleForbidden,
            "ROLE_FORBIDDEN_REMOVE" => Refusal::RoleForbiddenRemove,
            "ALREADY_MEMBER" => Refusal::AlreadyMember,
            "NOT_MEMBER" => Refusal::NotMember,
            "FORBIDDEN" => Refusal::Forbidden,
            "FORBIDDEN_GROUP" => Refusal::ForbiddenGroup,
            "STALE_CREDENTIALS" => Refusal::StaleCredentials,
            "RATE_LIMITED" => Refusal::RateLimited,
            "CHANGED" => Refusal::Changed,
            "TOO_MANY" => Refusal::TooMany,
            "USER_QUOTA" => Refusal::UserQuota,
            "PRECONDITION" => Refusal::Precondition,
            "IDEM_MISMATCH" => Refusal::IdempotencyMismatch,
            "IDEM" => Refusal::AlreadyCreated(detail.parse().ok()?),
            "GROUP_QUOTA" => Refusal::GroupQuota(detail.to_owned()),
            "JOB_GONE" => Refusal::JobGone,
            "JOB_TAKEN" => Refusal::JobTaken,
            "JOB_ENDED" => Refusal::JobEnded(detail.to_owned()),
            "JOB_MOVED" => Refusal::JobMoved(detail.to_owned()),
            _ => return None,
        })
    }
}

impl TaskRefusal {
    fn decode(code: &str) -> Option<TaskRefusal> {
        Some(match code {
            "NOT_FOUND" => TaskRefusal::NotFound,
            "NOT_MEMBER" => TaskRefusal::NotMember,
            "FORBIDDEN_GROUP" => TaskRefusal::ForbiddenGroup,
            "TOO_MANY_LABELS" => TaskRefusal::TooManyLabels,
            _ => return None,
        })
    }
}

/// A write script's reply: the values after `'OK'`, or the refusal.
pub(super) fn outcome(reply: Value) -> Result<Result<Vec<Value>, Refusal>, StoreError> {
    let mut items = array(reply).ok_or(StoreError::Malformed("script reply"))?;
    if items.is_empty() {
        return Err(StoreError::Malformed("empty script reply"));
    }
    let marker = string(&items.remove(0)).unwrap_or_default();
    match marker.as_str() {
        "OK" => Ok(Ok(items)),
        "ERR" => {
            let details: Vec<String> = items.iter().filter_map(string).collect();
            let code = details.first().map(String::as_str).unwrap_or("");
            let detail = details.get(1).map(String::as_str).unwrap_or("");
            match code {
                "MAINTENANCE" => Err(StoreError::Maintenance),
                "IDS_UNCHECKED" => Err(StoreError::IdsUnchecked),
                "REFUSED" => {
                    let tasks = details[1..]
                        .chunks(2)
                        .map(|pair| match pair {
                            [code, id] => Some((TaskRefusal::decode(code)?, id.parse().ok()?)),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                        .filter(|t| !t.is_empty())
                        .ok_or(StoreError::Malformed("write_tasks refusal"))?;
                    Ok(Err(Refusal::Tasks(tasks)))
                }
                _ => Refusal::decode(code, detail)
                    .map(Err)
                    .ok_or(StoreError::Malformed("unknown refusal code")),
            }
        }
        _ => Err(StoreError::Malformed("script marker")),
    }
}

/// One entry of `create_tasks`' answer: a new id, or why that create was
/// refused.
pub(super) fn create_entry(item: &Value) -> Result<Result<u64, Refusal>, StoreError> {
    let text = string(item).ok_or(StoreError::Malformed("create_tasks entry"))?;
    if let Ok(id) = text.parse::<u64>() {
        return Ok(Ok(id));
    }
    if let Some(id) = text.strip_prefix("IDEM ").and_then(|id| id.parse().ok()) {
        return Ok(Err(Refusal::AlreadyCreated(id)));
    }
    Refusal::decode(&text, "")
        .map(Err)
        .ok_or(StoreError::Malformed("unknown create_tasks refusal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn reply(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| bulk(s)).collect())
    }

    #[test]
    fn refusals_are_decoded_with_their_details() {
        let cases: &[(&[&str], Refusal)] = &[
            (&["ERR", "EMAIL_TAKEN", ""], Refusal::EmailTaken),
            (
                &["ERR", "GROUP_NOT_FOUND", "12"],
                Refusal::GroupNotFound("12".into()),
            ),
            (
                &["ERR", "ADMINISTERS", "1, 4"],
                Refusal::Administers("1, 4".into()),
            ),
            (
                &["ERR", "REFUSED", "NOT_FOUND", "7", "NOT_MEMBER", "9"],
                Refusal::Tasks(vec![
                    (TaskRefusal::NotFound, 7),
                    (TaskRefusal::NotMember, 9),
                ]),
            ),
        ];
        for (items, expected) in cases {
            assert_eq!(
                outcome(reply(items)).expect("decoded"),
                Err(expected.clone()),
                "{items:?}"
            );
        }
        assert_eq!(
            outcome(reply(&["OK", "5"])).expect("decoded"),
            Ok(vec![bulk("5")])
        );
    }

    #[test]
    fn malformed_and_maintenance_replies_are_errors_never_panics() {
        for items in [
            &[][..],
            &["ERR"][..],
            &["ERR", "NO_SUCH_CODE", ""][..],
            &["ERR", "REFUSED"][..],
            &["ERR", "REFUSED", "NOT_FOUND"][..],
            &["ERR", "REFUSED", "BOGUS", "1"][..],
            &["MAYBE"][..],
        ] {
            assert!(
                matches!(outcome(reply(items)), Err(StoreError::Malformed(_))),
                "{items:?}"
            );
        }
        assert!(matches!(
            outcome(reply(&["ERR", "MAINTENANCE", ""])),
            Err(StoreError::Maintenance)
        ));
        assert!(outcome(Value::Int(3)).is_err());
    }

    #[test]
    fn a_create_entry_is_an_id_or_a_refusal() {
        assert_eq!(create_entry(&bulk("17")).expect("id"), Ok(17));
        assert_eq!(
            create_entry(&bulk("NOT_MEMBER")).expect("refusal"),
            Err(Refusal::NotMember)
        );
        assert_eq!(
            create_entry(&bulk("IDEM 9")).expect("a retry"),
            Err(Refusal::AlreadyCreated(9))
        );
        assert!(create_entry(&bulk("WHAT")).is_err());
        assert!(create_entry(&Value::Nil).is_err());
    }
}
