//! What a client is told when a write script refused: every
//! [`Refusal`] of every write, mapped to its answer here and nowhere else.
//!
//! The same rule can read differently by endpoint (a missing user named in
//! a body is 422, one named in the path 404), so the mapping takes the
//! write it refused ([`Write`]).

use axum::http::StatusCode;
use taskmaster_shared::domain::{FieldError, GroupId, LABELS_MAX};

use super::ApiError;
use crate::store::{Refusal, TaskRefusal};

/// The write that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    CreateUser,
    UpdateUser,
    DeleteUser,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    AddMember,
    RemoveMember,
    CreateTask,
    /// One task through its user's path (update, done, delete).
    WriteTask,
    /// `POST /tasks/batch`; `group` is the group the tasks were to move to.
    Batch {
        group: Option<GroupId>,
    },
    /// `POST /groups/{id}/labels/rename`.
    RenameLabel,
}

/// The answer to `refusal` of `write`.
pub fn refused(write: Write, refusal: Refusal) -> ApiError {
    use Refusal as R;
    use Write as W;
    let conflict = |m: &str| ApiError::Conflict(m.into());
    let forbidden = |m: &str| ApiError::Forbidden(m.into());
    let not_found = |m: &str| ApiError::NotFound(m.into());
    let invalid = |m: &str| ApiError::Unprocessable(m.into());
    match (write, refusal) {
        (W::CreateUser | W::UpdateUser | W::DeleteUser, r) => match r {
            R::EmailTaken => conflict("User with this email already exists"),
            R::GroupNotFound(g) => ApiError::Unprocessable(format!("Group {g} not found")),
            R::NotFound => not_found("User not found"),
            R::Conflict => conflict("The user was changed by another request; retry"),
            R::Precondition => ApiError::PreconditionFailed(
                "The user changed since the tag `If-Match` names: read it again".into(),
            ),
            R::Administers(groups) => ApiError::Conflict(format!(
                "The user administers groups {groups}; give those groups another admin first"
            )),
            other => unexpected(write, other),
        },
        (W::UpdateGroup, R::AdminNotFound) => invalid("New admin user not found"),
        (W::UpdateGroup, R::AdminRole) => {
            invalid("New admin must have 'group_admin' or 'owner' role")
        }
        (W::AddMember, R::UserNotFound) => invalid("User not found"),
        (
            W::CreateGroup
            | W::UpdateGroup
            | W::DeleteGroup
            | W::AddMember
            | W::RemoveMember
            | W::RenameLabel,
            r,
        ) => match r {
            R::NotFound | R::GroupNotFound(_) => not_found("Group not found"),
            R::NameTaken => conflict("Group with this name already exists"),
            R::AdminNotFound => invalid("Admin user not found"),
            R::AdminRole => invalid("Selected user must have 'group_admin' or 'owner' role"),
            R::UserNotFound => not_found("User not found"),
            R::RoleForbidden => forbidden("Group admins can only add users whose role is 'user'"),
            R::RoleForbiddenRemove => {
                forbidden("Group admins can only remove users whose role is 'user'")
            }
            R::AlreadyMember => conflict("User is already a member of this group"),
            R::NotMember => not_found("User is not a member of this group"),
            R::Forbidden => forbidden("Insufficient permissions for this group"),
            R::Precondition => ApiError::PreconditionFailed(
                "The group changed since the tag `If-Match` names: read it again".into(),
            ),
            other => unexpected(write, other),
        },
        (W::CreateTask | W::WriteTask | W::Batch { .. }, R::GroupNotFound(_)) => {
            invalid("Group not found")
        }
        (W::CreateTask, R::UserQuota) => conflict(
            "The user holds the most tasks allowed (MAX_TASKS_PER_USER); delete some first",
        ),
        (W::CreateTask | W::WriteTask | W::Batch { .. }, R::GroupQuota(_)) => conflict(
            "The group holds the most tasks allowed (MAX_TASKS_PER_GROUP); delete some first",
        ),
        (W::WriteTask, R::Precondition) => ApiError::PreconditionFailed(
            "The task changed since the tag `If-Match` names: read it again".into(),
        ),
        (W::CreateTask, R::UserNotFound) => not_found("User not found"),
        (W::CreateTask, R::NotMember) => not_a_member(),
        (W::CreateTask, R::ForbiddenGroup) => forbidden_group(),
        (W::WriteTask, R::Tasks(tasks)) => match tasks.first().map(|(why, _)| *why) {
            Some(TaskRefusal::NotMember) => not_a_member(),
            Some(TaskRefusal::ForbiddenGroup) => forbidden_group(),
            Some(TaskRefusal::TooManyLabels) => too_many_labels(),
            _ => not_found("Task not found"),
        },
        (W::Batch { group }, R::Tasks(tasks)) => batch(group, &tasks),
        (write, other) => unexpected(write, other),
    }
}

fn not_a_member() -> ApiError {
    ApiError::Forbidden("User does not belong to specified group".into())
}

fn too_many_labels() -> ApiError {
    FieldError::new(
        "labels",
        format!("a task holds at most {LABELS_MAX} labels"),
    )
    .into()
}

fn forbidden_group() -> ApiError {
    ApiError::Forbidden("Insufficient permissions for the specified group".into())
}

/// A batch refused as a whole: every refused task is listed; 404 when any
/// was not found, else 403.
fn batch(group: Option<GroupId>, tasks: &[(TaskRefusal, u64)]) -> ApiError {
    let group = group.map_or(0, GroupId::get);
    let errors: Vec<String> = tasks
        .iter()
        .map(|(why, id)| match why {
            TaskRefusal::NotMember => format!("User of task {id} does not belong to group {group}"),
            TaskRefusal::ForbiddenGroup => {
                format!("Insufficient permissions for group {group} (task {id})")
            }
            TaskRefusal::NotFound => format!("Task {id} not found"),
            TaskRefusal::TooManyLabels => {
                format!("labels: task {id} would hold more than {LABELS_MAX} labels")
            }
        })
        .collect();
    let any = |why: TaskRefusal| tasks.iter().any(|(w, _)| *w == why);
    let status = if any(TaskRefusal::NotFound) {
        StatusCode::NOT_FOUND
    } else if any(TaskRefusal::NotMember) || any(TaskRefusal::ForbiddenGroup) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let first = errors.first().cloned().unwrap_or_default();
    ApiError::Batch {
        status,
        message: format!("{first}; nothing was changed"),
        errors,
    }
}

/// A refusal no script sends for this write: a bug, answered 500.
fn unexpected(write: Write, refusal: Refusal) -> ApiError {
    ApiError::Internal(format!("unexpected refusal {refusal:?} of {write:?}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_reads_as_its_endpoint_answers_it() {
        let cases = [
            (
                Write::CreateUser,
                Refusal::EmailTaken,
                409,
                "User with this email already exists",
            ),
            (
                Write::UpdateUser,
                Refusal::GroupNotFound("7".into()),
                422,
                "Group 7 not found",
            ),
            (
                Write::CreateGroup,
                Refusal::AdminNotFound,
                422,
                "Admin user not found",
            ),
            (
                Write::UpdateGroup,
                Refusal::AdminNotFound,
                422,
                "New admin user not found",
            ),
            (
                Write::AddMember,
                Refusal::UserNotFound,
                422,
                "User not found",
            ),
            (
                Write::RemoveMember,
                Refusal::NotMember,
                404,
                "User is not a member of this group",
            ),
            (
                Write::CreateTask,
                Refusal::UserNotFound,
                404,
                "User not found",
            ),
            (
                Write::CreateTask,
                Refusal::GroupNotFound(String::new()),
                422,
                "Group not found",
            ),
            (
                Write::WriteTask,
                Refusal::Tasks(vec![(TaskRefusal::ForbiddenGroup, 3)]),
                403,
                "Insufficient permissions for the specified group",
            ),
            (
                Write::Batch {
                    group: Some(GroupId(5)),
                },
                Refusal::Tasks(vec![
                    (TaskRefusal::NotMember, 3),
                    (TaskRefusal::NotFound, 4),
                ]),
                404,
                "User of task 3 does not belong to group 5; nothing was changed",
            ),
            (
                Write::DeleteGroup,
                Refusal::StaleCredentials,
                500,
                "internal error",
            ),
        ];
        for (write, refusal, status, message) in cases {
            let e = refused(write, refusal.clone());
            assert_eq!(e.status().as_u16(), status, "{write:?} {refusal:?}");
            assert!(e.to_string().starts_with(message), "{write:?}: {e}");
        }
    }
}
