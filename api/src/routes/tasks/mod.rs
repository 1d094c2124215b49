//! Tasks: one user's tasks (`/users/{id}/tasks…`, [`user_tasks`]) and the
//! views and batch changes across users (`/tasks/…`, [`reports`]), with
//! their request bodies ([`body`]).

mod body;
mod reports;
mod user_tasks;

pub use body::{Batch, CreateTask, TaskChanges};
pub use reports::{STATUS_FILTERS, batch, filter, search, stats};
pub use user_tasks::{create, delete, get_one, list_for_user, mark_done, update};
