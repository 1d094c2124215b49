//! The permission rules, as pure functions of the caller and the target.
//!
//! Three roles: the owner (by header, or a user with role `owner`) may do
//! everything; a group admin acts within the groups it administers; a user
//! acts on its own data. Relations:
//!
//! * a group admin **manages** a user who is a member of a group it
//!   administers;
//! * a group admin may **edit** a managed user only if that user's role is
//!   `user` (never another admin or an owner), and never their email,
//!   password, role or memberships;
//! * a group admin sees and changes only the tasks in groups it administers
//!   (plus its own);
//! * a group admin adds to its groups only plain users it already manages
//!   (the `add_member` script decides, atomically); anyone else is "not
//!   found" to it, so a refusal reveals nothing outside its groups;
//! * a task can only live in a group its user belongs to.
//!
//! Which answers are 403 and which 404 is described in the README.

use taskmaster_shared::domain::Role;
use taskmaster_shared::model::{Task, User};

use crate::auth::Caller;

/// The caller is a group admin of one of `groups`.
pub fn manages(caller: &Caller, groups: &[u64]) -> bool {
    caller.is_group_admin() && groups.iter().any(|g| caller.administers(*g))
}

pub fn can_view_user(caller: &Caller, target: &User) -> bool {
    caller.is_owner() || caller.is(target.id) || manages(caller, &target.group_ids)
}

/// May change the profile fields (name, number, work times) of `target`.
pub fn can_edit_user(caller: &Caller, target: &User) -> bool {
    caller.is_owner()
        || caller.is(target.id)
        || (manages(caller, &target.group_ids) && target.role == Role::User)
}

/// May change email or password of `target`: only the user and the owner.
pub fn can_change_credentials(caller: &Caller, target: &User) -> bool {
    caller.is_owner() || caller.is(target.id)
}

pub fn can_view_group(caller: &Caller, group: u64) -> bool {
    caller.is_owner() || caller.administers(group) || caller.member_of(group)
}

pub fn can_manage_group(caller: &Caller, group: u64) -> bool {
    caller.is_owner() || caller.administers(group)
}

/// May see (and change) `task`.
pub fn can_see_task(caller: &Caller, task: &Task) -> bool {
    can_see(caller, task.user_id, task.group_id)
}

/// [`can_see_task`] for a task known by its user and group.
pub fn can_see(caller: &Caller, user_id: u64, group_id: u64) -> bool {
    caller.is_owner() || caller.is(user_id) || caller.administers(group_id)
}

/// May list or create users and search them (the reference's gate).
pub fn can_list_users(caller: &Caller) -> bool {
    caller.is_owner() || caller.is_group_admin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::domain::WorkTimes;

    fn caller(id: u64, role: Role, groups: &[u64], admin_of: &[u64]) -> Caller {
        Caller {
            id: Some(id),
            role,
            groups: groups.to_vec(),
            admin_of: admin_of.to_vec(),
            relations: true,
            method: crate::auth::Method::Basic,
        }
    }

    fn user(id: u64, role: Role, groups: &[u64]) -> User {
        User {
            id,
            full_name: String::new(),
            role,
            group_ids: groups.to_vec(),
            number: String::new(),
            email: String::new(),
            work_times: WorkTimes::default(),
            active: true,
            created_at: String::new(),
            updated_at: String::new(),
            password_hash: String::new(),
        }
    }

    #[test]
    fn a_group_admin_manages_members_of_its_groups_only() {
        let ga = caller(2, Role::GroupAdmin, &[1], &[1]);
        assert!(can_view_user(&ga, &user(3, Role::User, &[1])));
        assert!(!can_view_user(&ga, &user(4, Role::User, &[2])));
        assert!(can_edit_user(&ga, &user(3, Role::User, &[1])));
        assert!(
            !can_edit_user(&ga, &user(5, Role::GroupAdmin, &[1])),
            "no editing other admins"
        );
        assert!(
            !can_edit_user(&ga, &user(6, Role::Owner, &[1])),
            "no editing owners"
        );
        assert!(!can_change_credentials(&ga, &user(3, Role::User, &[1])));
        assert!(can_change_credentials(
            &ga,
            &user(2, Role::GroupAdmin, &[1])
        ));
    }

    #[test]
    fn a_user_acts_only_on_itself() {
        let u = caller(3, Role::User, &[1], &[]);
        assert!(can_view_user(&u, &user(3, Role::User, &[1])));
        assert!(
            !can_view_user(&u, &user(4, Role::User, &[1])),
            "sharing a group is not enough"
        );
        assert!(can_view_group(&u, 1));
        assert!(!can_manage_group(&u, 1));
        assert!(!can_list_users(&u));
    }

    #[test]
    fn task_visibility_follows_ownership_and_administration() {
        let task = Task {
            id: 1,
            title: String::new(),
            status: false,
            priority: 2,
            deadline: String::new(),
            information: String::new(),
            user_id: 3,
            group_id: 1,
            created_at: String::new(),
            updated_at: String::new(),
            state: taskmaster_shared::domain::TaskState::Todo,
            created_by: None,
            labels: Vec::new(),
            completed_at: None,
        };
        assert!(can_see_task(&caller(3, Role::User, &[1], &[]), &task));
        assert!(!can_see_task(&caller(4, Role::User, &[1], &[]), &task));
        assert!(can_see_task(
            &caller(2, Role::GroupAdmin, &[1, 2], &[1]),
            &task
        ));
        assert!(
            !can_see_task(&caller(2, Role::GroupAdmin, &[1, 2], &[2]), &task),
            "member-only admin"
        );
        assert!(can_see_task(&Caller::owner_header(), &task));
    }
}
